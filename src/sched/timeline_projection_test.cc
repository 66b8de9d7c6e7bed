// The schedule table for waiting jobs: predicted rows, throttles, horizon, node speed.
#include "sched/timeline_projection.h"

#include <gtest/gtest.h>

#include "sched/placement_test_util.h"
#include "sched/scheduler.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

std::vector<TimeMs> Starts(const Plan& p, JobId job) {
  std::vector<TimeMs> out;
  for (const auto& r : p.placements)
    if (r.task.job == job) out.push_back(r.predicted_start_ms);
  return out;
}

TEST(Projection, EveryQueuedJobGetsAPredictedRow) {
  ClusterSnapshot s;
  s.now_ms = 1000;
  s.nodes = {Node("n0", 16000, 64000, 2)};
  for (int j = 1; j <= 7; ++j) s.queue.push_back(Job(j, 1, Req(1000, 100, 1), 100));
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  const TimeMs expected[] = {1000, 1000, 1100, 1100, 1200, 1200, 1300};
  for (int j = 1; j <= 7; ++j) {
    auto st = Starts(*plan, j);
    ASSERT_EQ(st.size(), 1u) << "job " << j;
    EXPECT_EQ(st[0], expected[j - 1]) << "job " << j;
  }
  EXPECT_EQ(plan->StartNow().size(), 2u);
  EXPECT_EQ(plan->unplaced.size(), 5u);
  for (const auto& u : plan->unplaced) EXPECT_EQ(u.why.code(), StatusCode::kUnschedulable);
}

TEST(Projection, HorizonCutsPredictionsAndSaysSo) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 1)};
  for (int j = 1; j <= 5; ++j) s.queue.push_back(Job(j, 1, Req(1000, 100, 1), 100));
  SchedulerConfig c;
  c.max_predicted_jobs = 2;
  auto plan = Schedule(s, c);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Starts(*plan, 2), (std::vector<TimeMs>{100}));
  EXPECT_EQ(Starts(*plan, 3), (std::vector<TimeMs>{200}));
  EXPECT_TRUE(Starts(*plan, 4).empty());
  bool said = false;
  for (const auto& u : plan->unplaced)
    if (u.job == 5)
      said = u.why.message().find("beyond the first 2 waiting jobs") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(Projection, ThrottledArrayDoesNotBlockOthers) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4)};
  PendingJob arr = Job(1, 3, Req(1000, 100, 1), 100);
  std::const_pointer_cast<JobSpec>(arr.spec)->array = {.first = 0, .last = 2, .throttle = 1};
  s.queue = {arr, Job(2, 1, Req(1000, 100, 1), 1000)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Starts(*plan, 1), (std::vector<TimeMs>{0, 100, 200}));
  EXPECT_EQ(Starts(*plan, 2), (std::vector<TimeMs>{0}));
}

TEST(Projection, FasterNodeFinishesSooner) {
  ClusterSnapshot s;
  s.nodes = {Node("fast", 16000, 64000, 1, "virtual", 16384, 2.0)};
  s.queue = {Job(1, 1, Req(1000, 100, 1), 1000), Job(2, 1, Req(1000, 100, 1), 1000)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->placements.size(), 2u);
  EXPECT_EQ(plan->placements[0].predicted_finish_ms, 500);
  EXPECT_EQ(plan->placements[1].predicted_start_ms, 500);
  EXPECT_EQ(plan->placements[1].predicted_finish_ms, 1000);
}

TEST(Projection, ReleasesComeInTimeThenInsertionOrder) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 2)};
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  ReleaseTimeline t;
  t.Add(50, {0, 100, 0, 0, false}, 7);
  t.Add(10, {0, 200, 0, 0, false}, 8);
  t.Add(50, {0, 300, 0, 0, false}, 9);
  EXPECT_EQ(t.NextTime(), 10);
  std::vector<int> owners;
  t.ReleaseUntil(50, *st, [&](int o) { owners.push_back(o); });
  EXPECT_EQ(owners, (std::vector<int>{8, 7, 9}));
  EXPECT_EQ(st->slot(0).milli_cpus, 16600);
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace muster::sched
