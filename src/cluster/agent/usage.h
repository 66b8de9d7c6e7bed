// Usage sampling for heartbeats: what the running tasks consume, and the GPUs' live readings.
//
// Per task: CPU time (utime + stime) and resident memory summed over every process of the
// task's process group, found by scanning PROC/<pid>/stat for the group id (field 5) and
// reading PROC/<pid>/statm. CPU load is the growth of the tasks' CPU seconds between two samples
// divided by the wall time between them. Per GPU: utilization, memory used and power from NVML
// when the driver is loaded (virtual GPUs report nothing). PROC is injectable for tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/agent/launcher.h"
#include "cluster/proto/muster.pb.h"

namespace muster::agent {

class GpuDriver;

struct ProcStat {
  int pid = 0;
  int pgrp = 0;
  uint64_t cpu_ticks = 0;    // utime + stime, in clock ticks
  uint64_t start_ticks = 0;  // start time after boot (field 22), 0 if absent; with the pid it
                             // names one process across pid reuse
};

// Parses the text of /proc/<pid>/stat (the command name may hold spaces and parentheses).
std::optional<ProcStat> ParseProcStat(const std::string& text);
// The whole of a small file (/proc's, a cgroup's), read with plain system calls: such files are
// read for every task, and a stream costs more than the kernel's side. "" if it cannot be read.
std::string ReadSmallFile(const std::string& path);
// Resident pages: the second field of /proc/<pid>/statm.
std::optional<int64_t> ParseStatmResident(const std::string& text);

struct GroupUsage {
  double cpu_seconds = 0;
  int64_t rss_bytes = 0;
  int processes = 0;
};

// Usage of each process group in `pgids`, summed over its live processes.
std::map<int, GroupUsage> SampleGroups(const std::string& proc_root, const std::vector<int>& pgids);

// Builds heartbeat usage samples. Not thread-safe: one caller (the heartbeat loop).
class UsageSampler {
 public:
  // `driver` may be null; `gpu_indices` are the node's real GPUs (empty: report none).
  UsageSampler(std::string proc_root, GpuDriver* driver, std::vector<int> gpu_indices);
  // One sample for the running tasks at wall time now_ms.
  v1::UsageSample Sample(const std::vector<RunningTask>& running, int64_t now_ms);

 private:
  std::string proc_root_;
  GpuDriver* driver_;
  std::vector<int> gpu_indices_;
  int64_t last_ms_ = 0;
  std::map<int, double> last_cpu_;  // pgid -> CPU seconds at the previous sample
};

}  // namespace muster::agent
