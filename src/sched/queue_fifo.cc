#include "sched/queue_fifo.h"

namespace muster::sched {

namespace {

class FifoPolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kFifoPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot, [](const PendingJob& j) { return 0; });
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakeFifoPolicy() {
  return std::make_unique<FifoPolicy>();
}

}  // namespace muster::sched
