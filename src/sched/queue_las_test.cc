#include "sched/queue_las.h"

#include <gtest/gtest.h>

namespace muster::sched {
namespace {

PendingJob Job(JobId id, TimeMs submitted, double attained) {
  PendingJob j;
  j.id = id;
  j.spec = std::make_shared<JobSpec>();
  j.submitted_ms = submitted;
  j.pending_tasks = {0};
  j.attained_gpu_seconds = attained;
  return j;
}

TEST(QueueLas, LevelsThenFifoWithinALevel) {
  EXPECT_EQ(LasLevel(0, {100, 1000}), 0);
  EXPECT_EQ(LasLevel(99.9, {100, 1000}), 0);
  EXPECT_EQ(LasLevel(100, {100, 1000}), 1);
  EXPECT_EQ(LasLevel(5000, {100, 1000}), 2);
  ClusterSnapshot s;
  s.queue = {Job(1, 0, 500),   // level 1, oldest
             Job(2, 10, 0),    // level 0
             Job(3, 5, 2000),  // level 2
             Job(4, 20, 50),   // level 0, later than job 2
             Job(5, 3, 999)};  // level 1, after job 1
  auto policy = MakeLasPolicy({100, 1000});
  EXPECT_EQ(policy->name(), "las");
  EXPECT_EQ(policy->Order(s), (std::vector<int>{1, 3, 0, 4, 2}));
}

TEST(QueueLas, RegistersBesideTheDefaults) {
  QueuePolicyRegistry r = QueuePolicyRegistry::Default();
  std::vector<double> t = {3600};
  ASSERT_TRUE(r.Add(std::string(kLasPolicy), [t] { return MakeLasPolicy(t); }).ok());
  auto p = r.Make("las");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->name(), "las");
}

}  // namespace
}  // namespace muster::sched
