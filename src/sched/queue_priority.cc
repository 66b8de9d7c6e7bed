#include "sched/queue_priority.h"

namespace muster::sched {

namespace {

class PriorityPolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kPriorityPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot, [](const PendingJob& a, const PendingJob& b) {
      if (a.spec->priority != b.spec->priority) return a.spec->priority > b.spec->priority;
      return SubmittedBefore(a, b);
    });
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakePriorityPolicy() { return std::make_unique<PriorityPolicy>(); }

}  // namespace muster::sched
