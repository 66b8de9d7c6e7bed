#include "sched/queue_priority.h"

namespace muster::sched {

namespace {

class PriorityPolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kPriorityPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot,
                       [](const PendingJob& j) { return -static_cast<int64_t>(j.spec->priority); });
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakePriorityPolicy() {
  return std::make_unique<PriorityPolicy>();
}

}  // namespace muster::sched
