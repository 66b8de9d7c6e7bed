// Queue policy "las" (Tiresias-style discretized two-dimensional least attained service):
// a job's attained service is GPUs x seconds already run (PendingJob::attained_gpu_seconds,
// filled by the caller for preempted jobs; 0 for jobs that never ran). Ascending thresholds split
// jobs into levels: level 0 below the first threshold, level k once k thresholds are reached.
// Lower levels first; FIFO (submission, then id) within a level, as in Tiresias. No run-time
// prediction is used. Not in QueuePolicyRegistry::Default(), since its thresholds are a
// parameter: register it with
//   registry.Add(std::string(kLasPolicy), [t] { return MakeLasPolicy(t); });
// Preemption (stopping running jobs of a higher level) is the caller's decision; Schedule only
// orders and places the queue.
#pragma once

#include <memory>
#include <vector>

#include "sched/queue_policy.h"

namespace muster::sched {

inline constexpr std::string_view kLasPolicy = "las";

// Number of thresholds that `attained_gpu_seconds` has reached. REQUIRES: thresholds ascending.
int LasLevel(double attained_gpu_seconds, const std::vector<double>& thresholds_gpu_s);

// REQUIRES: thresholds ascending and > 0.
std::unique_ptr<QueuePolicy> MakeLasPolicy(std::vector<double> thresholds_gpu_s);

}  // namespace muster::sched
