#include "sched/queue_las.h"

#include <utility>

namespace muster::sched {

namespace {

class LasPolicy final : public QueuePolicy {
 public:
  explicit LasPolicy(std::vector<double> thresholds) : thresholds_(std::move(thresholds)) {}
  std::string_view name() const override { return kLasPolicy; }
  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    return SortedQueue(snapshot, [this](const PendingJob& j) {
      return LasLevel(j.attained_gpu_seconds, thresholds_);
    });
  }

 private:
  std::vector<double> thresholds_;
};

}  // namespace

int LasLevel(double attained_gpu_seconds, const std::vector<double>& thresholds) {
  int level = 0;
  while (level < static_cast<int>(thresholds.size()) && attained_gpu_seconds >= thresholds[level])
    ++level;
  return level;
}

std::unique_ptr<QueuePolicy> MakeLasPolicy(std::vector<double> thresholds_gpu_s) {
  return std::make_unique<LasPolicy>(std::move(thresholds_gpu_s));
}

}  // namespace muster::sched
