// See gpu_driver.h. The NVML and CUDA declarations below mirror the public C headers
// (nvml.h, cuda.h) for the few calls used; all return 0 on success.
#include "cluster/agent/gpu_driver.h"

#include <dlfcn.h>

#include <cstring>

namespace muster::agent {

namespace {

using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};
using NvmlInitFn = int (*)();
using NvmlShutdownFn = int (*)();
using NvmlCountFn = int (*)(unsigned int*);
using NvmlHandleFn = int (*)(unsigned int, NvmlDevice*);
using NvmlNameFn = int (*)(NvmlDevice, char*, unsigned int);
using NvmlMemoryFn = int (*)(NvmlDevice, NvmlMemory*);
using NvmlUtilFn = int (*)(NvmlDevice, NvmlUtilization*);
using NvmlPowerFn = int (*)(NvmlDevice, unsigned int*);
using NvmlUuidFn = int (*)(NvmlDevice, char*, unsigned int);
using NvmlMinorFn = int (*)(NvmlDevice, unsigned int*);

using CuInitFn = int (*)(unsigned int);
using CuCountFn = int (*)(int*);
using CuGetFn = int (*)(int*, int);
using CuNameFn = int (*)(char*, int, int);
using CuTotalMemFn = int (*)(size_t*, int);

constexpr MiB kMiB = 1024 * 1024;

template <typename F>
F Sym(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

}  // namespace

struct GpuDriver::Api {
  NvmlShutdownFn nvml_shutdown = nullptr;
  NvmlCountFn nvml_count = nullptr;
  NvmlHandleFn nvml_handle = nullptr;
  NvmlNameFn nvml_name = nullptr;
  NvmlMemoryFn nvml_memory = nullptr;
  NvmlUtilFn nvml_util = nullptr;    // optional
  NvmlPowerFn nvml_power = nullptr;  // optional
  NvmlUuidFn nvml_uuid = nullptr;    // optional
  NvmlMinorFn nvml_minor = nullptr;  // optional
  CuCountFn cu_count = nullptr;
  CuGetFn cu_get = nullptr;
  CuNameFn cu_name = nullptr;
  CuTotalMemFn cu_total_mem = nullptr;
};

const char* GpuBackendName(GpuBackend b) {
  switch (b) {
    case GpuBackend::kNone:
      return "none";
    case GpuBackend::kNvml:
      return "nvml";
    case GpuBackend::kCuda:
      return "cuda";
  }
  return "none";
}

std::unique_ptr<GpuDriver> GpuDriver::Load() {
  return LoadFrom("libnvidia-ml.so.1", "libcuda.so.1");
}

std::unique_ptr<GpuDriver> GpuDriver::LoadFrom(const std::string& nvml_library,
                                               const std::string& cuda_library) {
  std::unique_ptr<GpuDriver> d(new GpuDriver());
  d->api_ = std::make_unique<Api>();
  if (!d->LoadNvml(nvml_library) && !d->LoadCuda(cuda_library)) d->backend_ = GpuBackend::kNone;
  return d;
}

GpuDriver::~GpuDriver() {
  if (backend_ == GpuBackend::kNvml && api_->nvml_shutdown) api_->nvml_shutdown();
  if (lib_) dlclose(lib_);
}

bool GpuDriver::LoadNvml(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return false;
  auto init = Sym<NvmlInitFn>(lib, "nvmlInit_v2");
  Api& a = *api_;
  a.nvml_shutdown = Sym<NvmlShutdownFn>(lib, "nvmlShutdown");
  a.nvml_count = Sym<NvmlCountFn>(lib, "nvmlDeviceGetCount_v2");
  a.nvml_handle = Sym<NvmlHandleFn>(lib, "nvmlDeviceGetHandleByIndex_v2");
  a.nvml_name = Sym<NvmlNameFn>(lib, "nvmlDeviceGetName");
  a.nvml_memory = Sym<NvmlMemoryFn>(lib, "nvmlDeviceGetMemoryInfo");
  a.nvml_util = Sym<NvmlUtilFn>(lib, "nvmlDeviceGetUtilizationRates");
  a.nvml_power = Sym<NvmlPowerFn>(lib, "nvmlDeviceGetPowerUsage");
  a.nvml_uuid = Sym<NvmlUuidFn>(lib, "nvmlDeviceGetUUID");
  a.nvml_minor = Sym<NvmlMinorFn>(lib, "nvmlDeviceGetMinorNumber");
  if (!init || !a.nvml_count || !a.nvml_handle || !a.nvml_name || !a.nvml_memory || init() != 0) {
    a = Api{};
    dlclose(lib);
    return false;
  }
  lib_ = lib;
  backend_ = GpuBackend::kNvml;
  return true;
}

bool GpuDriver::LoadCuda(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return false;
  auto init = Sym<CuInitFn>(lib, "cuInit");
  Api& a = *api_;
  a.cu_count = Sym<CuCountFn>(lib, "cuDeviceGetCount");
  a.cu_get = Sym<CuGetFn>(lib, "cuDeviceGet");
  a.cu_name = Sym<CuNameFn>(lib, "cuDeviceGetName");
  a.cu_total_mem = Sym<CuTotalMemFn>(lib, "cuDeviceTotalMem_v2");
  if (!init || !a.cu_count || !a.cu_get || !a.cu_name || !a.cu_total_mem || init(0) != 0) {
    a = Api{};
    dlclose(lib);
    return false;
  }
  lib_ = lib;
  backend_ = GpuBackend::kCuda;
  return true;
}

std::vector<GpuDevice> GpuDriver::Devices() {
  std::lock_guard lock(mu_);
  std::vector<GpuDevice> out;
  const Api& a = *api_;
  if (backend_ == GpuBackend::kNvml) {
    unsigned int n = 0;
    if (a.nvml_count(&n) != 0) return out;
    for (unsigned int i = 0; i < n; ++i) {
      NvmlDevice h = nullptr;
      if (a.nvml_handle(i, &h) != 0) continue;
      GpuDevice g;
      g.index = static_cast<int>(i);
      char name[96] = {};
      g.model = a.nvml_name(h, name, sizeof name - 1) == 0 ? name : "unknown";
      NvmlMemory mem{};
      if (a.nvml_memory(h, &mem) == 0) g.memory_mib = static_cast<MiB>(mem.total / kMiB);
      char uuid[96] = {};
      if (a.nvml_uuid && a.nvml_uuid(h, uuid, sizeof uuid - 1) == 0) g.uuid = uuid;
      unsigned int minor = 0;
      if (a.nvml_minor && a.nvml_minor(h, &minor) == 0) g.minor = static_cast<int>(minor);
      out.push_back(g);
    }
  } else if (backend_ == GpuBackend::kCuda) {
    int n = 0;
    if (a.cu_count(&n) != 0) return out;
    for (int i = 0; i < n; ++i) {
      int dev = 0;
      if (a.cu_get(&dev, i) != 0) continue;
      GpuDevice g;
      g.index = i;
      char name[96] = {};
      g.model = a.cu_name(name, sizeof name - 1, dev) == 0 ? name : "unknown";
      size_t bytes = 0;
      if (a.cu_total_mem(&bytes, dev) == 0) g.memory_mib = static_cast<MiB>(bytes / kMiB);
      out.push_back(g);
    }
  }
  return out;
}

std::vector<GpuReading> GpuDriver::Read() {
  std::lock_guard lock(mu_);
  std::vector<GpuReading> out;
  if (backend_ != GpuBackend::kNvml) return out;
  const Api& a = *api_;
  unsigned int n = 0;
  if (a.nvml_count(&n) != 0) return out;
  for (unsigned int i = 0; i < n; ++i) {
    NvmlDevice h = nullptr;
    if (a.nvml_handle(i, &h) != 0) continue;
    GpuReading r;
    r.index = static_cast<int>(i);
    NvmlUtilization u{};
    if (a.nvml_util && a.nvml_util(h, &u) == 0) r.utilization = u.gpu / 100.0;
    unsigned int mw = 0;
    if (a.nvml_power && a.nvml_power(h, &mw) == 0) r.power_w = mw / 1000.0;
    NvmlMemory mem{};
    if (a.nvml_memory(h, &mem) == 0) r.memory_used_mib = static_cast<MiB>(mem.used / kMiB);
    out.push_back(r);
  }
  return out;
}

}  // namespace muster::agent
