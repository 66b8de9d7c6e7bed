// EASY backfill through Schedule(): the head's reservation, which later jobs may start now, and
// the predicted rows that follow.
#include "sched/backfill.h"

#include <gtest/gtest.h>

#include "sched/placement_test_util.h"
#include "sched/scheduler.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

const Placement* RowOf(const Plan& p, JobId job, int task = 0) {
  for (const auto& r : p.placements)
    if (r.task.job == job && r.task.index == task) return &r;
  return nullptr;
}

std::string WhyOf(const Plan& p, JobId job) {
  for (const auto& u : p.unplaced)
    if (u.job == job) return u.why.message();
  return "";
}

RunningTask Running(int node, std::vector<int> gpus, MilliCpu cpu, TimeMs finish) {
  RunningTask r;
  r.task = {99, 0};
  r.node = node;
  r.gpus = std::move(gpus);
  r.resources = Req(cpu, 0, static_cast<int>(r.gpus.size()));
  r.predicted_finish_ms = finish;
  return r;
}

// n0 has 4 GPUs, two held until t=100. Head H needs all 4 for 1000 ms.
ClusterSnapshot HeadBlocked() {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 64000, 4)};
  s.nodes[0].free.gpu_free = {false, false, true, true};
  s.nodes[0].free.milli_cpus = 6000;
  s.running = {Running(0, {0, 1}, 2000, 100)};
  s.queue = {Job(1, 1, Req(1000, 100, 4), 1000),  // H
             Job(2, 1, Req(1000, 100, 1), 50),    // B: done before H's reservation
             Job(3, 1, Req(1000, 100, 1), 500)};  // C: would overlap it
  return s;
}

TEST(Backfill, ShortJobBackfillsLongJobWaits) {
  ClusterSnapshot s = HeadBlocked();
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  const Placement* h = RowOf(*plan, 1);
  const Placement* b = RowOf(*plan, 2);
  const Placement* c = RowOf(*plan, 3);
  ASSERT_TRUE(h && b && c);
  EXPECT_FALSE(h->start_now);
  EXPECT_EQ(h->predicted_start_ms, 100);
  EXPECT_EQ(h->predicted_finish_ms, 1100);
  EXPECT_EQ(h->gpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(b->start_now);
  EXPECT_EQ(b->predicted_finish_ms, 50);
  EXPECT_FALSE(c->start_now);
  EXPECT_EQ(c->predicted_start_ms, 1100);  // behind the head in the projection
  EXPECT_NE(WhyOf(*plan, 3).find("without delaying job 1"), std::string::npos) << WhyOf(*plan, 3);
  EXPECT_NE(WhyOf(*plan, 1).find("predicted start in 0.1s"), std::string::npos) << WhyOf(*plan, 1);
}

TEST(Backfill, UnreservedNodeTakesLongJobNow) {
  ClusterSnapshot s = HeadBlocked();
  s.nodes.push_back(Node("n1", 8000, 64000, 1));
  s.queue.erase(s.queue.begin() + 1);  // without B, which bin-pack would put on n1
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_NE(RowOf(*plan, 3), nullptr);
  EXPECT_TRUE(RowOf(*plan, 3)->start_now);
  EXPECT_EQ(RowOf(*plan, 3)->node, 1);
  EXPECT_EQ(RowOf(*plan, 1)->predicted_start_ms, 100);
}

TEST(Backfill, OffMeansNothingPassesTheHead) {
  ClusterSnapshot s = HeadBlocked();
  SchedulerConfig c;
  c.backfill = false;
  auto plan = Schedule(s, c);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->StartNow().empty());
  EXPECT_EQ(RowOf(*plan, 1)->predicted_start_ms, 100);
  EXPECT_EQ(RowOf(*plan, 2)->predicted_start_ms, 1100);
  EXPECT_NE(WhyOf(*plan, 2).find("backfill is off"), std::string::npos);
}

TEST(Backfill, SpareCpuOnReservedNodeBoundsLongJobs) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 64000, 0)};
  s.nodes[0].free.milli_cpus = 2000;
  s.running = {Running(0, {}, 6000, 100)};
  s.queue = {Job(1, 1, Req(7000, 100, 0), 1000),  // H: reserved at 100, leaves 1000 spare
             Job(2, 1, Req(1500, 100, 0), 500),   // too big for the spare
             Job(3, 1, Req(1000, 100, 0), 500)};  // fits the spare
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(RowOf(*plan, 2) && RowOf(*plan, 2)->start_now);
  ASSERT_NE(RowOf(*plan, 3), nullptr);
  EXPECT_TRUE(RowOf(*plan, 3)->start_now);
  EXPECT_EQ(RowOf(*plan, 1)->predicted_start_ms, 100);
}

TEST(Backfill, GangHeadReservesAllRanks) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 64000, 2), Node("n1", 8000, 64000, 2)};
  s.nodes[1].free.gpu_free = {false, true};
  s.running = {Running(1, {0}, 0, 300)};
  s.queue = {Job(1, 4, Req(1000, 100, 1), 1000, true), Job(2, 1, Req(1000, 100, 1), 5000)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  for (int r = 0; r < 4; ++r) {
    ASSERT_NE(RowOf(*plan, 1, r), nullptr);
    EXPECT_EQ(RowOf(*plan, 1, r)->predicted_start_ms, 300);
  }
  // Job 2 would hold one of the gang's GPUs past t=300.
  EXPECT_FALSE(RowOf(*plan, 2)->start_now);
}

TEST(Backfill, ReserveHeadWalksReleasesInTimeOrder) {
  ClusterSnapshot s = HeadBlocked();
  auto state = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(state.ok());
  auto pipeline = PlacementPipeline::Build(PluginRegistry::Default(), {});
  ASSERT_TRUE(pipeline.ok());
  ReleaseTimeline timeline;
  timeline.AddRunning(s, [](JobId) { return -1; });
  PlacementAsk ask;
  ask.job = &s.queue[0];
  ask.shape = state->ShapeOf(s.queue[0].spec->resources);
  ask.duration_ms = 1000;
  auto r = ReserveHead(*pipeline, ask, false, 1, 0, -1, *state, timeline);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->start_ms, 100);
  ASSERT_EQ(r->guard.nodes.size(), 1u);
  EXPECT_TRUE(r->guard.nodes[0].reserved);
  EXPECT_EQ(r->guard.nodes[0].gpus, 0b1111u);
  EXPECT_EQ(r->guard.nodes[0].spare_cpu, 7000);
  // The inputs are untouched.
  EXPECT_EQ(state->slot(0).free_gpus, 2);
  EXPECT_EQ(timeline.size(), 1u);
  // A request larger than anything that frees up has no reservation.
  PendingJob huge = Job(9, 1, Req(1000, 100, 5), 10);
  ask.job = &huge;
  ask.shape = state->ShapeOf(huge.spec->resources);
  EXPECT_FALSE(ReserveHead(*pipeline, ask, false, 1, 0, -1, *state, timeline).has_value());
}

}  // namespace
}  // namespace muster::sched
