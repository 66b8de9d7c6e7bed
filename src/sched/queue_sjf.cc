#include "sched/queue_sjf.h"

namespace muster::sched {

namespace {

class SjfPolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kSjfPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot, [](const PendingJob& a, const PendingJob& b) {
      if (a.predicted_duration_ms != b.predicted_duration_ms)
        return a.predicted_duration_ms < b.predicted_duration_ms;
      return SubmittedBefore(a, b);
    });
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakeSjfPolicy() { return std::make_unique<SjfPolicy>(); }

}  // namespace muster::sched
