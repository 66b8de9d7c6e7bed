// The launch of one task attempt as the coordinator decides it and the agent carries it out, in
// core terms; convert.h turns it into the wire message (muster.v1.Launch) and back.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/job.h"

namespace muster::cluster {

struct LaunchSpec {
  JobId job = 0;
  int task_index = 0;
  Attempt attempt = 0;
  std::vector<std::string> command;
  std::string workdir;
  std::vector<int> gpus;  // device indices on the node (GpuDevice::index), not positions
  std::map<std::string, std::string> env;  // complete additions to the task's environment
  int64_t log_limit_bytes = 0;             // per output stream; 0 = none
  std::string user;                        // the job's owner: the Unix user it runs as
  bool allow_root = false;                 // the cluster lets jobs run as root
  std::string checkpoint_dir;              // assigned by the coordinator ("" if the job set its own)
  DurationMs time_limit_ms = 0;            // 0 = none
  DurationMs signal_grace_ms = 0;          // at the time limit, SIGTERM -> SIGKILL
  std::string stop_reason_file;            // $MUSTER_STOP_REASON_FILE; "" = none
  int64_t memory_bytes = 0;                // limit set in the task's cgroup; 0 = none
  MilliCpu milli_cpus = 0;                 // CPU quota set in the task's cgroup; 0 = none
  std::string stdout_path, stderr_path;    // the task's own copies (--output / --error); "" none
};

}  // namespace muster::cluster
