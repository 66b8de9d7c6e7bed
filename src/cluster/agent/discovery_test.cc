#include "cluster/agent/discovery.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace muster::agent {
namespace {

namespace fs = std::filesystem;

class Fixture {
 public:
  Fixture()
      : root_(fs::temp_directory_path() /
              ("muster-disc-" + std::to_string(getpid()) + "-" + std::to_string(counter_++))) {
    fs::create_directories(root_);
  }
  ~Fixture() { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string Path(const std::string& rel) const { return (root_ / rel).string(); }

 private:
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(DiscoveryParse, Meminfo) {
  EXPECT_EQ(ParseMeminfoTotal("MemTotal:       24684096 kB\nMemFree: 1 kB\n"), 24105);
  EXPECT_EQ(ParseMeminfoTotal("MemFree: 1 kB\n"), std::nullopt);
  EXPECT_EQ(ParseMeminfoTotal("MemTotal: lots\n"), std::nullopt);
}

TEST(DiscoveryParse, CgroupCpu) {
  EXPECT_EQ(ParseCgroupCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupCpuMax("150000 100000\n"), 1500);
  EXPECT_EQ(ParseCgroupCpuMax("50000 100000"), 500);
  EXPECT_EQ(CgroupV1CpuQuota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(CgroupV1CpuQuota("200000\n", "100000\n"), 2000);
  EXPECT_EQ(CgroupV1CpuQuota("abc", "100000"), std::nullopt);
}

TEST(DiscoveryParse, CgroupMemory) {
  EXPECT_EQ(ParseCgroupMemoryLimit("max\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryLimit("1073741824\n"), 1024);
  EXPECT_EQ(ParseCgroupMemoryLimit("9223372036854771712\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupMemoryLimit("garbage"), std::nullopt);
}

TEST(DiscoveryParse, GpuIds) {
  auto ids = ParseGpuIds("0, 2,3");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int>{0, 2, 3}));
  EXPECT_FALSE(ParseGpuIds("0,x").ok());
  EXPECT_FALSE(ParseGpuIds("").ok());
  EXPECT_FALSE(ParseGpuIds("-1").ok());
}

TEST(Discovery, MemoryCappedByCgroupV2) {
  Fixture f;
  f.Write("proc/meminfo", "MemTotal:       8388608 kB\n");  // 8192 MiB
  f.Write("proc/self/cgroup", "0::/jobs/a\n");
  f.Write("cg/jobs/a/memory.max", "max\n");
  f.Write("cg/jobs/memory.max", "2147483648\n");  // 2048 MiB on the parent
  DiscoveryOptions o{.proc_root = f.Path("proc"), .cgroup_root = f.Path("cg")};
  EXPECT_EQ(DiscoverMemoryMiB(o), 2048);
  o.memory_mib = 100;
  EXPECT_EQ(DiscoverMemoryMiB(o), 100);
}

TEST(Discovery, MemoryCappedByCgroupV1) {
  Fixture f;
  f.Write("proc/meminfo", "MemTotal:       8388608 kB\n");
  f.Write("proc/self/cgroup", "4:memory:/box\n1:cpu,cpuacct:/box\n0::/\n");
  f.Write("cg/memory/box/memory.limit_in_bytes", "1073741824\n");
  f.Write("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
  DiscoveryOptions o{.proc_root = f.Path("proc"), .cgroup_root = f.Path("cg")};
  EXPECT_EQ(DiscoverMemoryMiB(o), 1024);
}

TEST(Discovery, MemoryWithoutCgroup) {
  Fixture f;
  f.Write("proc/meminfo", "MemTotal:       8388608 kB\n");
  DiscoveryOptions o{.proc_root = f.Path("proc"), .cgroup_root = f.Path("cg")};
  EXPECT_EQ(DiscoverMemoryMiB(o), 8192);
}

TEST(Discovery, CpusCappedByQuota) {
  Fixture f;
  f.Write("proc/self/cgroup", "0::/slice\n");
  f.Write("cg/slice/cpu.max", "50000 100000\n");
  DiscoveryOptions o{
      .proc_root = f.Path("proc"), .cgroup_root = f.Path("cg"), .use_affinity = false};
  EXPECT_EQ(DiscoverMilliCpus(o), 500);
  f.Write("cg/slice/cpu.max", "max 100000\n");
  EXPECT_EQ(DiscoverMilliCpus(o), sysconf(_SC_NPROCESSORS_ONLN) * 1000);
  o.milli_cpus = 3500;
  EXPECT_EQ(DiscoverMilliCpus(o), 3500);
}

TEST(Discovery, CpusCappedByV1Quota) {
  Fixture f;
  f.Write("proc/self/cgroup", "2:cpu,cpuacct:/c\n");
  f.Write("cg/cpu,cpuacct/c/cpu.cfs_quota_us", "25000\n");
  f.Write("cg/cpu,cpuacct/c/cpu.cfs_period_us", "100000\n");
  DiscoveryOptions o{
      .proc_root = f.Path("proc"), .cgroup_root = f.Path("cg"), .use_affinity = false};
  EXPECT_EQ(DiscoverMilliCpus(o), 250);
}

TEST(Discovery, VirtualGpus) {
  DiscoveryOptions o{.name = "node7",
                     .virtual_gpus = 3,
                     .virtual_gpu_memory_mib = 8192,
                     .milli_cpus = 4000,
                     .memory_mib = 1000,
                     .address = "10.0.0.7"};
  auto n = DiscoverNode(o, nullptr);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->spec.name, "node7");
  ASSERT_EQ(n->spec.gpus.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(n->spec.gpus[i].index, i);
    EXPECT_EQ(n->spec.gpus[i].model, "virtual");
    EXPECT_EQ(n->spec.gpus[i].memory_mib, 8192);
    EXPECT_TRUE(n->spec.gpus[i].is_virtual);
  }
  EXPECT_EQ(n->spec.milli_cpus, 4000);
  EXPECT_EQ(n->spec.memory_mib, 1000);
  EXPECT_EQ(n->address, "10.0.0.7");
}

TEST(Discovery, NoDriverNoGpus) {
  DiscoveryOptions o;
  auto g = DiscoverGpus(o, nullptr);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->empty());
  o.gpu_ids = {1};
  auto bad = DiscoverGpus(o, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("GPU 1 does not exist"), std::string::npos);
}

TEST(Discovery, RealHostHasSomething) {
  DiscoveryOptions o;
  EXPECT_GE(DiscoverMilliCpus(o), 1000);
  EXPECT_GT(DiscoverMemoryMiB(o), 0);
}

}  // namespace
}  // namespace muster::agent
