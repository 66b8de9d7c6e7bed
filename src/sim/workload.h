// The simulator's input: a workload of jobs (submit time, run time on a reference GPU, GPU count,
// user, priority) and summary statistics over it.
//
// Assumptions: times are integer milliseconds on the trace's own clock (Philly: Unix epoch);
// durations are the run time on a speed-1.0 GPU when the job is placed on one node; a job uses all
// of its GPUs for its whole run; users are small integers naming Workload::users.
// Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"

namespace muster::sim {

struct SimJob {
  TimeMs submit_ms = 0;
  DurationMs duration_ms = 0;   // > 0
  int32_t gpus = 1;             // >= 1
  int32_t user = 0;             // index into Workload::users
  int32_t priority = 0;         // higher first under the priority policy
  int32_t source_line = 0;      // 1-based line of the trace file, 0 if generated
  bool checkpointable = false;  // may be migrated by the load balancer (keeps its progress)
};

struct Workload {
  std::vector<SimJob> jobs;        // any order; the engine sorts by (submit, index)
  std::vector<std::string> users;  // user names; "" if unknown

  // Index of `name` in users, appended if new.
  int32_t UserIndex(const std::string& name);
};

struct WorkloadStats {
  int64_t jobs = 0;
  std::map<int, int64_t> gpu_mix;  // GPUs per job -> number of jobs
  double single_gpu_fraction = 0;  // share of jobs with one GPU
  double median_duration_s = 0;    // middle value (mean of the two middles for an even count)
  double mean_duration_s = 0;
  double total_gpu_seconds = 0;
  TimeMs first_submit_ms = 0;
  TimeMs last_submit_ms = 0;
  int users = 0;
};

// Statistics of `w` (all zero for an empty workload).
WorkloadStats ComputeStats(const Workload& w);

// "2017-09-04 10:30:41" for a time in ms since the Unix epoch (UTC).
std::string FormatUtc(TimeMs t);
// Parses "YYYY-MM-DD HH:MM:SS" (UTC) into ms since the Unix epoch; false if malformed.
bool ParseUtc(const std::string& text, TimeMs* out);

}  // namespace muster::sim
