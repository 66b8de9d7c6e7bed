// The order of the preemptive policies, shared by the simulator (sim/policy.h) and the
// coordinator's preemption (cluster/coordinator/preemption.cc), so that `muster sim --policy las`
// replays what `muster coordinator --policy las` does:
//   srtf  shortest remaining time first: the key is the predicted time left, in ms;
//   las   least attained service (Tiresias): the key is the level of the GPU-seconds run so far
//         (sched/queue_las.h).
// Smaller keys run first; ties go to the earlier submission, then the smaller id. A queued job
// may preempt a running one only when the running one comes strictly after it (MayPreempt), so
// a job never preempts itself or its equals, and srtf cannot ping-pong (a running job's key only
// falls). Pure: no I/O.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/clock.h"
#include "core/job.h"
#include "sched/queue_policy.h"

namespace muster::sched {

struct OrderKey {
  int64_t key = 0;
  TimeMs submit_ms = 0;
  JobId id = 0;
  auto operator<=>(const OrderKey&) const = default;
};

// srtf's key: the remaining time rounded up to a whole ms (never negative; within 1e-9 ms of a
// whole ms counts as that ms, so that float noise does not reorder equal jobs).
inline int64_t SrtfKey(double remaining_ms) {
  return remaining_ms <= 0 ? 0 : static_cast<int64_t>(std::ceil(remaining_ms - 1e-9));
}
// las's key: the level of `attained_gpu_seconds`. REQUIRES: thresholds ascending.
int64_t LasKey(double attained_gpu_seconds, const std::vector<double>& thresholds_gpu_s);

// A running job of key `running` may be preempted for a queued job of key `queued`.
inline bool MayPreempt(const OrderKey& running, const OrderKey& queued) { return running > queued; }

// QueuePolicyRegistry::Default() plus "las" with these thresholds (the preemptive policies'
// queue orders: srtf runs "sjf" on remaining times). REQUIRES: thresholds ascending and > 0.
QueuePolicyRegistry PreemptivePolicies(std::vector<double> las_thresholds_gpu_s);

}  // namespace muster::sched
