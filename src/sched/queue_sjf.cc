#include "sched/queue_sjf.h"

namespace muster::sched {

namespace {

class SjfPolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kSjfPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot, [](const PendingJob& j) { return j.predicted_duration_ms; });
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakeSjfPolicy() {
  return std::make_unique<SjfPolicy>();
}

}  // namespace muster::sched
