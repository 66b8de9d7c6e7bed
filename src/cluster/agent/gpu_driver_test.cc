// GPU discovery through fake NVML and CUDA driver libraries, compiled here at test time from C
// sources that follow the public headers' declarations. Checks symbol binding, struct layouts,
// unit conversions and the NVML -> CUDA -> none fallback. Skipped without a C compiler.
#include "cluster/agent/gpu_driver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cluster/agent/discovery.h"

namespace muster::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFakeNvml = R"(
#include <stdio.h>
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetCount_v2(unsigned int* n) { *n = 2; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void** h) { *h = (void*)(long)(i + 1); return 0; }
int nvmlDeviceGetName(void* h, char* name, unsigned int len) {
  snprintf(name, len, "Fake H100 #%ld", (long)h); return 0; }
int nvmlDeviceGetMemoryInfo(void* h, nvmlMemory_t* m) {
  m->total = 80ULL << 30; m->used = ((unsigned long long)(long)h) << 30;
  m->free = m->total - m->used; return 0; }
int nvmlDeviceGetUtilizationRates(void* h, nvmlUtilization_t* u) {
  u->gpu = 40 + (unsigned)(long)h; u->memory = 1; return 0; }
int nvmlDeviceGetPowerUsage(void* h, unsigned int* mw) { *mw = 300500; return 0; }
)";

constexpr const char* kFakeCuda = R"(
#include <stddef.h>
#include <string.h>
int cuInit(unsigned int flags) { return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { *d = ordinal; return 0; }
int cuDeviceGetName(char* name, int len, int dev) { strncpy(name, "Fake A100", len); return 0; }
int cuDeviceTotalMem_v2(size_t* bytes, int dev) { *bytes = (size_t)24 << 30; return 0; }
)";

class GpuDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("muster-fakegpu-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    nvml_ = Build("nvml", kFakeNvml);
    cuda_ = Build("cuda", kFakeCuda);
    if (nvml_.empty() || cuda_.empty()) GTEST_SKIP() << "no C compiler to build the fakes";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Build(const std::string& name, const char* source) {
    fs::path c = dir_ / (name + ".c"), so = dir_ / ("lib" + name + ".so");
    std::ofstream(c) << source;
    std::string cmd = "cc -shared -fPIC -o '" + so.string() + "' '" + c.string() + "' 2>/dev/null";
    return std::system(cmd.c_str()) == 0 ? so.string() : "";
  }
  fs::path dir_;
  std::string nvml_, cuda_;
};

TEST_F(GpuDriverTest, NvmlDevicesAndReadings) {
  auto d = GpuDriver::LoadFrom(nvml_, cuda_);
  ASSERT_EQ(d->backend(), GpuBackend::kNvml);
  auto gpus = d->Devices();
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[1].index, 1);
  EXPECT_EQ(gpus[1].model, "Fake H100 #2");
  EXPECT_EQ(gpus[0].memory_mib, 80 * 1024);
  EXPECT_FALSE(gpus[0].is_virtual);
  auto r = d->Read();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_DOUBLE_EQ(r[0].utilization, 0.41);
  EXPECT_DOUBLE_EQ(r[1].power_w, 300.5);
  EXPECT_EQ(r[1].memory_used_mib, 2 * 1024);
  // --gpu-ids keeps a subset, by driver index.
  DiscoveryOptions o{.gpu_ids = {1}};
  auto kept = DiscoverGpus(o, d.get());
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].index, 1);
}

TEST_F(GpuDriverTest, FallsBackToCudaThenNone) {
  auto c = GpuDriver::LoadFrom((dir_ / "missing.so").string(), cuda_);
  ASSERT_EQ(c->backend(), GpuBackend::kCuda);
  auto gpus = c->Devices();
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].model, "Fake A100");
  EXPECT_EQ(gpus[0].memory_mib, 24 * 1024);
  EXPECT_TRUE(c->Read().empty());  // the driver API has no live readings
  auto none = GpuDriver::LoadFrom((dir_ / "missing.so").string(), (dir_ / "missing2.so").string());
  EXPECT_EQ(none->backend(), GpuBackend::kNone);
  EXPECT_TRUE(none->Devices().empty());
}

}  // namespace
}  // namespace muster::agent
