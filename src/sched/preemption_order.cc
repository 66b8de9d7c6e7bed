#include "sched/preemption_order.h"

#include "sched/queue_las.h"

namespace muster::sched {

int64_t LasKey(double attained_gpu_seconds, const std::vector<double>& thresholds_gpu_s) {
  return LasLevel(attained_gpu_seconds, thresholds_gpu_s);
}

QueuePolicyRegistry PreemptivePolicies(std::vector<double> las_thresholds_gpu_s) {
  QueuePolicyRegistry r = QueuePolicyRegistry::Default();
  (void)r.Add(std::string(kLasPolicy),
              [t = std::move(las_thresholds_gpu_s)] { return MakeLasPolicy(t); });
  return r;
}

}  // namespace muster::sched
