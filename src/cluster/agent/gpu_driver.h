// GPU discovery and live readings through the driver's own libraries, loaded at run time.
//
// Algorithm: dlopen("libnvidia-ml.so.1") and resolve the handful of NVML entry points muster
// needs (init, count, handle by index, name, memory, utilization, power). If NVML is missing or
// fails to initialize, fall back to the CUDA driver API in "libcuda.so.1" (init, count, name,
// total memory; no live readings). If neither loads, the host has no GPUs. The function pointer
// types are declared here, so muster builds and runs without CUDA headers or libraries.
//
// Assumptions: NVML enumerates devices in PCI bus order, which is the CUDA order only when
// CUDA_DEVICE_ORDER=PCI_BUS_ID; the launcher sets that variable for tasks when NVML was used.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/resources.h"

namespace muster::agent {

// A live reading of one GPU; -1 means the driver does not report it.
struct GpuReading {
  int index = 0;
  double utilization = -1;  // 0..1
  double power_w = -1;
  MiB memory_used_mib = -1;
};

enum class GpuBackend { kNone, kNvml, kCuda };
const char* GpuBackendName(GpuBackend b);

// Owns the loaded driver library. Thread-safe: all calls are serialized by an internal mutex.
class GpuDriver {
 public:
  // Loads NVML, else CUDA, else nothing. Never fails: a host without drivers has no GPUs.
  static std::unique_ptr<GpuDriver> Load();
  // The same from the given library names or paths (tests load fakes this way).
  static std::unique_ptr<GpuDriver> LoadFrom(const std::string& nvml_library,
                                             const std::string& cuda_library);
  ~GpuDriver();
  GpuDriver(const GpuDriver&) = delete;
  GpuDriver& operator=(const GpuDriver&) = delete;

  GpuBackend backend() const { return backend_; }
  // The devices present, in driver order (index = driver index).
  std::vector<GpuDevice> Devices();
  // Current readings for each device (empty list with the CUDA backend or none).
  std::vector<GpuReading> Read();

 private:
  GpuDriver() = default;
  struct Api;
  bool LoadNvml(const std::string& library);
  bool LoadCuda(const std::string& library);

  std::mutex mu_;
  GpuBackend backend_ = GpuBackend::kNone;
  void* lib_ = nullptr;
  std::unique_ptr<Api> api_;
};

}  // namespace muster::agent
