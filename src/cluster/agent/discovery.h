// What this node has: CPUs, memory, GPUs and the address peers reach it at.
//
// CPUs: the affinity mask (sched_getaffinity), else sysconf(_SC_NPROCESSORS_ONLN), capped by a
// cgroup CPU quota (v2 cpu.max "quota period", v1 cpu.cfs_quota_us / cpu.cfs_period_us).
// Memory: MemTotal from /proc/meminfo, capped by a cgroup limit (v2 memory.max, v1
// memory.limit_in_bytes). The cgroup of this process is read from /proc/self/cgroup; all paths
// are injectable so tests feed in fixture files. GPUs: the driver (gpu_driver.h), or N virtual
// GPUs when --gpus N is given, optionally restricted to some driver indices (--gpu-ids) so that
// several agents on one host split its GPUs. Flags override what is discovered.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/node.h"
#include "core/status.h"

namespace muster::agent {

class GpuDriver;

struct DiscoveryOptions {
  std::string name = {};
  int virtual_gpus = -1;  // >= 0: declare this many virtual GPUs instead of probing
  MiB virtual_gpu_memory_mib = 16384;
  std::vector<int> gpu_ids = {};  // non-empty: keep only these driver indices
  MilliCpu milli_cpus = 0;        // > 0 overrides discovery
  MiB memory_mib = 0;             // > 0 overrides discovery
  double speed = 1.0;
  std::string address = {};  // empty: filled in by the link from its local socket
  // Injectable sources (tests point these at fixtures).
  std::string proc_root = "/proc";
  std::string cgroup_root = "/sys/fs/cgroup";
  bool use_affinity = true;  // false in tests: take the online CPU count only
};

struct DiscoveredNode {
  NodeSpec spec;
  std::string address;
};

// "MemTotal: 24684096 kB" -> 24105 MiB. nullopt if the field is missing.
std::optional<MiB> ParseMeminfoTotal(const std::string& meminfo);
// cgroup v2 cpu.max ("max 100000" or "150000 100000") -> milli-CPUs; nullopt when unlimited.
std::optional<MilliCpu> ParseCgroupCpuMax(const std::string& text);
// v1 quota/period pair ("-1" = unlimited) -> milli-CPUs; nullopt when unlimited or malformed.
std::optional<MilliCpu> CgroupV1CpuQuota(const std::string& quota, const std::string& period);
// memory.max / memory.limit_in_bytes ("max" or bytes) -> MiB; nullopt when unlimited (or a
// v1 "no limit" value of at least 2^60).
std::optional<MiB> ParseCgroupMemoryLimit(const std::string& text);
// Parses "0,2,3" into indices. InvalidArgument on anything else.
Result<std::vector<int>> ParseGpuIds(const std::string& text);

// CPUs available to this process, in milli-CPUs (quota-capped).
MilliCpu DiscoverMilliCpus(const DiscoveryOptions& o);
// Memory available to this process, in MiB (limit-capped). 0 if unknown.
MiB DiscoverMemoryMiB(const DiscoveryOptions& o);
// GPUs: virtual ones if requested, else the driver's (driver may be null: none).
Result<std::vector<GpuDevice>> DiscoverGpus(const DiscoveryOptions& o, GpuDriver* driver);
// The whole node. InvalidArgument if --gpu-ids names a GPU that does not exist.
Result<DiscoveredNode> DiscoverNode(const DiscoveryOptions& o, GpuDriver* driver);

}  // namespace muster::agent
