// Balancer decisions: threshold and hysteresis, gain versus cost, modes, no ping-pong under
// alternating loads, gangs, non-checkpointable jobs, heterogeneity, stealing and re-targeting.
#include "balance/balancer.h"

#include <gtest/gtest.h>

#include <map>

#include "balance/test_util.h"
#include "balance/what_if.h"

namespace muster::balance {
namespace {

using testing_util::AddRunning;
using testing_util::CountKind;
using testing_util::Node;
using testing_util::OnConfig;
using testing_util::Pending;
using testing_util::Req;

constexpr TimeMs kSec = 1000;
constexpr TimeMs kHour = 3600 * kSec;

// A slow node (speed 1) running job 1 with `remaining` left, and an idle node of speed 2.
sched::ClusterSnapshot SlowAndFast(TimeMs remaining, bool checkpointable = true) {
  sched::ClusterSnapshot s;
  s.now_ms = 100 * kSec;
  s.nodes = {Node("slow", 1, 1.0), Node("fast", 1, 2.0)};
  AddRunning(s, 1, 0, 0, {0}, s.now_ms + remaining, checkpointable);
  return s;
}

Decision MustDecide(Balancer& b, const sched::ClusterSnapshot& s, TimeMs now,
                    MeasuredUsage usage = {}) {
  BalanceContext ctx;
  ctx.now_ms = now;
  ctx.usage = std::move(usage);
  auto d = b.Decide(s, ctx);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Decision{};
}

TEST(Balancer, MigratesToFasterNodeWhenGainExceedsCost) {
  auto s = SlowAndFast(kHour);
  auto b = Balancer::Create(OnConfig());
  ASSERT_TRUE(b.ok());
  Decision d = MustDecide(*b, s, s.now_ms);
  EXPECT_TRUE(d.due);
  EXPECT_DOUBLE_EQ(d.evaluation.nodes.imbalance_factor, 1.0);
  ASSERT_EQ(d.moves.size(), 1u);
  const Move& m = d.moves[0];
  EXPECT_EQ(m.kind, MoveKind::kMigrate);
  EXPECT_EQ(m.job, 1);
  EXPECT_EQ(m.tasks, std::vector<int>{0});
  EXPECT_EQ(m.from_node, 0);
  EXPECT_EQ(m.to_node, 1);
  EXPECT_DOUBLE_EQ(m.gain_s, 1800.0);  // 3600 s at speed 1 vs 1800 s at speed 2
  EXPECT_DOUBLE_EQ(m.cost_s, 60.0);
  EXPECT_TRUE(m.apply);
  EXPECT_FALSE(m.reason.empty());
  EXPECT_EQ(b->LastMove(1), s.now_ms);
}

TEST(Balancer, NoMoveWhenGainDoesNotExceedCost) {
  for (TimeMs remaining : {120 * kSec, 100 * kSec, 10 * kSec}) {  // gain 60 (= cost), 50, 5
    auto s = SlowAndFast(remaining);
    auto b = Balancer::Create(OnConfig());
    ASSERT_TRUE(b.ok());
    Decision d = MustDecide(*b, s, s.now_ms);
    EXPECT_TRUE(d.rebalance_armed);
    EXPECT_TRUE(d.moves.empty()) << "remaining " << remaining << ": " << d.moves[0].ToString();
  }
  auto s = SlowAndFast(121 * kSec);  // gain 60.5 > 60
  auto b = Balancer::Create(OnConfig());
  EXPECT_EQ(MustDecide(*b, s, s.now_ms).moves.size(), 1u);
}

TEST(Balancer, PerJobCostEstimateOverridesDefault) {
  auto s = SlowAndFast(kHour);
  auto b = Balancer::Create(OnConfig());
  BalanceContext ctx;
  ctx.now_ms = s.now_ms;
  ctx.move_costs[1] = {1000, 800, 0};  // 1800 s: equal to the gain
  auto d = b->Decide(s, ctx);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->moves.empty());
}

TEST(Balancer, NoMoveUnderThreshold) {
  auto s = SlowAndFast(kHour);
  auto b = Balancer::Create(OnConfig(1, 1.0));  // lambda is exactly 1.0: not above
  ASSERT_TRUE(b.ok());
  for (int p = 0; p < 10; ++p) {
    Decision d = MustDecide(*b, s, s.now_ms + p * kSec);
    EXPECT_TRUE(d.due);
    EXPECT_EQ(d.streak, 0);
    EXPECT_FALSE(d.rebalance_armed);
    EXPECT_TRUE(d.moves.empty());
  }
}

TEST(Balancer, HysteresisNeedsKConsecutivePeriods) {
  auto s = SlowAndFast(10 * kHour);
  auto b = Balancer::Create(OnConfig(3));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(MustDecide(*b, s, s.now_ms).moves.empty());
  EXPECT_TRUE(MustDecide(*b, s, s.now_ms + kSec).moves.empty());
  Decision d = MustDecide(*b, s, s.now_ms + 2 * kSec);
  EXPECT_EQ(d.moves.size(), 1u);
  EXPECT_EQ(d.streak, 0);  // restarted after acting
}

TEST(Balancer, BalancedPeriodResetsTheStreak) {
  auto busy = SlowAndFast(10 * kHour);
  auto balanced = busy;
  AddRunning(balanced, 2, 0, 1, {0}, balanced.now_ms + 10 * kHour, false);
  auto b = Balancer::Create(OnConfig(2));
  EXPECT_EQ(MustDecide(*b, busy, 0).streak, 1);
  EXPECT_EQ(MustDecide(*b, balanced, kSec).streak, 0);
  EXPECT_EQ(MustDecide(*b, busy, 2 * kSec).streak, 1);
  EXPECT_EQ(MustDecide(*b, busy, 3 * kSec).moves.size(), 1u);
}

TEST(Balancer, NotDueBeforeThePeriodElapses) {
  auto s = SlowAndFast(10 * kHour);
  auto b = Balancer::Create(OnConfig(2));
  EXPECT_TRUE(MustDecide(*b, s, 0).due);
  Decision early = MustDecide(*b, s, 999);
  EXPECT_FALSE(early.due);
  EXPECT_EQ(early.streak, 1);  // an early call does not count as a period
  EXPECT_EQ(MustDecide(*b, s, 1000).moves.size(), 1u);
}

TEST(Balancer, DryRunReportsMovesWithoutApplyingOrRecording) {
  auto s = SlowAndFast(kHour);
  auto c = OnConfig();
  c.mode = BalancerMode::kDryRun;
  auto b = Balancer::Create(c);
  for (int p = 0; p < 3; ++p) {
    Decision d = MustDecide(*b, s, s.now_ms + p * kSec);
    ASSERT_EQ(d.moves.size(), 1u) << "period " << p;
    EXPECT_FALSE(d.moves[0].apply);
  }
  EXPECT_FALSE(b->LastMove(1).has_value());
}

TEST(Balancer, OffReturnsNothing) {
  auto s = SlowAndFast(kHour);
  auto c = OnConfig();
  c.mode = BalancerMode::kOff;
  auto b = Balancer::Create(c);
  Decision d = MustDecide(*b, s, s.now_ms);
  EXPECT_FALSE(d.due);
  EXPECT_TRUE(d.moves.empty());
}

TEST(Balancer, NonCheckpointableJobIsNeverMigrated) {
  auto s = SlowAndFast(100 * kHour, /*checkpointable=*/false);
  auto b = Balancer::Create(OnConfig());
  for (int p = 0; p < 20; ++p) EXPECT_TRUE(MustDecide(*b, s, s.now_ms + p * kSec).moves.empty());
}

TEST(Balancer, LeavesRoomThatThePlanStartsQueuedWorkIn) {
  auto s = SlowAndFast(kHour);
  s.queue = {Pending(7, 1, Req(1), 600 * kSec)};  // the scheduler starts it on the fast node
  auto b = Balancer::Create(OnConfig());
  Decision d = MustDecide(*b, s, s.now_ms);
  EXPECT_TRUE(d.rebalance_armed);
  EXPECT_TRUE(d.moves.empty()) << d.moves[0].ToString();
}

TEST(Balancer, DoesNotDelayAReservation) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("slow", 1, 1.0), Node("fast", 2, 2.0)};
  AddRunning(s, 1, 0, 0, {0}, kHour);  // would gain 1800 s on the fast node
  AddRunning(s, 2, 0, 1, {0}, 600 * kSec, /*checkpointable=*/false);
  auto control = Balancer::Create(OnConfig());
  ASSERT_EQ(MustDecide(*control, s, 0).moves.size(), 1u);

  auto head = Pending(3, 1, Req(2), 600 * kSec);  // reserved on the fast node at +600 s
  head.pinned_node = 1;
  s.queue = {head};
  auto b = Balancer::Create(OnConfig());
  Decision d = MustDecide(*b, s, 0);
  EXPECT_TRUE(d.moves.empty()) << d.moves[0].ToString();
}

TEST(Balancer, GangMovesWithAllRanks) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("slow", 2, 1.0), Node("fast", 2, 2.0)};
  AddRunning(s, 5, 0, 0, {0}, 10 * kHour);
  AddRunning(s, 5, 1, 0, {1}, 10 * kHour);
  auto b = Balancer::Create(OnConfig());
  Decision d = MustDecide(*b, s, 0);
  ASSERT_EQ(d.moves.size(), 1u);
  EXPECT_EQ(d.moves[0].tasks, (std::vector<int>{0, 1}));
  ASSERT_EQ(d.moves[0].to_gpus.size(), 2u);
  EXPECT_NE(d.moves[0].to_gpus[0], d.moves[0].to_gpus[1]);
}

TEST(Balancer, GangDoesNotMoveWhenOnlySomeRanksFit) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("slow", 2, 1.0), Node("fast", 2, 2.0)};
  AddRunning(s, 5, 0, 0, {0}, 10 * kHour);
  AddRunning(s, 5, 1, 0, {1}, 10 * kHour);
  AddRunning(s, 6, 0, 1, {0}, 10 * kHour, /*checkpointable=*/false);  // one fast GPU left
  auto b = Balancer::Create(OnConfig(1, 0.0));
  for (int p = 0; p < 5; ++p) {
    Decision d = MustDecide(*b, s, p * kSec);
    EXPECT_TRUE(d.moves.empty()) << d.moves[0].ToString();
  }
}

TEST(Balancer, GangSpreadOverNodesIsNotMigrated) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("slow0", 1, 1.0), Node("slow1", 1, 1.0), Node("fast", 2, 4.0)};
  AddRunning(s, 5, 0, 0, {0}, 10 * kHour);
  AddRunning(s, 5, 1, 1, {0}, 10 * kHour);
  auto b = Balancer::Create(OnConfig());
  EXPECT_TRUE(MustDecide(*b, s, 0).moves.empty());
}

TEST(Balancer, DegradedNodeMeasuredSlowdownTriggersMigration) {
  // Same spec speed; node 0 measured at half speed.
  sched::ClusterSnapshot s;
  s.nodes = {Node("a", 1), Node("b", 1)};
  AddRunning(s, 1, 0, 0, {0}, kHour);
  MeasuredUsage u;
  u.nodes.resize(2);
  auto b = Balancer::Create(OnConfig());
  EXPECT_TRUE(MustDecide(*b, s, 0, u).moves.empty());  // equal speeds: nothing to gain
  u.nodes[0].speed_factor = 0.5;
  Decision d = MustDecide(*b, s, kSec, u);
  ASSERT_EQ(d.moves.size(), 1u);
  EXPECT_EQ(d.moves[0].to_node, 1);
  // 3600 reference s left: 7200 s at half speed, 3600 s on b.
  EXPECT_NEAR(d.moves[0].gain_s, 3599.0, 1.0);
}

// The node that looks faster alternates every period (a measured slowdown that flips). A
// balancer without the window would move the job back and forth every period.
TEST(Balancer, NoPingPongUnderAlternatingLoads) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("a", 1), Node("b", 1)};
  AddRunning(s, 1, 0, 0, {0}, 100 * kHour);
  auto c = OnConfig();
  c.period_ms = 60 * kSec;
  c.no_ping_pong_ms = 30 * 60 * kSec;
  auto b = Balancer::Create(c);
  std::vector<TimeMs> moves_at;
  std::vector<int> targets;
  const int periods = 300;  // 5 hours
  for (int p = 0; p < periods; ++p) {
    s.now_ms = p * c.period_ms;
    MeasuredUsage u;
    u.nodes.resize(2);
    u.nodes[p % 2].speed_factor = 0.25;
    Decision d = MustDecide(*b, s, s.now_ms, u);
    for (const Move& m : d.moves) {
      EXPECT_EQ(m.job, 1);
      moves_at.push_back(s.now_ms);
      targets.push_back(m.to_node);
    }
    auto next = ApplyMoves(s, d.moves);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    s = std::move(*next);
  }
  ASSERT_FALSE(moves_at.empty());
  for (size_t i = 1; i < moves_at.size(); ++i)
    EXPECT_GE(moves_at[i] - moves_at[i - 1], c.no_ping_pong_ms) << "move " << i;
  EXPECT_LE(static_cast<int64_t>(moves_at.size()), periods * c.period_ms / c.no_ping_pong_ms + 1);
}

// lambda alternates above and below the threshold every period; with k = 2 it never stays
// above long enough, so nothing rebalances although each high period alone would justify a move.
TEST(Balancer, AlternatingImbalanceBelowKPeriodsNeverRebalances) {
  auto b = Balancer::Create(OnConfig(2));
  for (int p = 0; p < 100; ++p) {
    auto s = SlowAndFast(10 * kHour);
    if (p % 2 == 1) AddRunning(s, 2, 0, 1, {0}, s.now_ms + 10 * kHour, false);
    s.now_ms = p * kSec;
    Decision d = MustDecide(*b, s, s.now_ms);
    EXPECT_LE(d.streak, 1);
    EXPECT_TRUE(d.moves.empty()) << "period " << p;
  }
}

TEST(Balancer, StealsQueuedArrayTasksForAnIdleNode) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("busy", 2), Node("idle", 2)};
  AddRunning(s, 1, 0, 0, {0, 1}, kHour, false);
  auto array = Pending(2, 4, Req(1), 600 * kSec, false, /*array=*/true);
  array.pinned_node = 0;
  s.queue = {array};
  auto b = Balancer::Create(OnConfig());
  Decision d = MustDecide(*b, s, 0);
  ASSERT_EQ(CountKind(d.moves, MoveKind::kSteal), 1) << (d.notes.empty() ? "" : d.notes[0]);
  ASSERT_EQ(d.moves.size(), 1u);
  const Move& m = d.moves[0];
  EXPECT_EQ(m.job, 2);
  EXPECT_EQ(m.from_node, 0);
  EXPECT_EQ(m.to_node, 1);
  EXPECT_EQ(m.tasks, (std::vector<int>{2, 3}));  // the latest planned finishes go first
  EXPECT_DOUBLE_EQ(m.cost_s, 0.0);
  EXPECT_GT(m.gain_s, 0.0);

  auto after = ApplyMoves(s, d.moves);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->queue.size(), 1u);
  EXPECT_EQ(after->queue[0].pending_tasks, (std::vector<int>{0, 1}));
  EXPECT_EQ(after->nodes[1].free.FreeGpuCount(), 0);
}

TEST(Balancer, StealsAgainWithinTheWindowWhenAnotherNodeIdles) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("busy", 2), Node("idle", 2), Node("late", 2)};
  s.nodes[2].state = NodeState::kLost;
  AddRunning(s, 1, 0, 0, {0, 1}, 10 * kHour, false);
  auto array = Pending(2, 8, Req(1), 600 * kSec, false, /*array=*/true);
  array.pinned_node = 0;
  s.queue = {array};
  auto b = Balancer::Create(OnConfig());
  Decision first = MustDecide(*b, s, 0);
  ASSERT_EQ(first.moves.size(), 1u);
  EXPECT_EQ(first.moves[0].tasks.size(), 2u);
  auto next = ApplyMoves(s, first.moves);
  ASSERT_TRUE(next.ok());
  next->nodes[2].state = NodeState::kReady;  // a node joins
  next->now_ms = kSec;
  Decision second = MustDecide(*b, *next, kSec);
  ASSERT_EQ(second.moves.size(), 1u);
  EXPECT_EQ(second.moves[0].to_node, 2);
  EXPECT_EQ(second.moves[0].tasks.size(), 2u);
}

TEST(Balancer, RetargetsPinnedJobToANodeWithRoom) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("busy", 1), Node("idle", 1)};
  AddRunning(s, 1, 0, 0, {0}, kHour, false);
  auto job = Pending(2, 1, Req(1), 600 * kSec);
  job.pinned_node = 0;
  s.queue = {job};
  auto b = Balancer::Create(OnConfig());
  Decision d = MustDecide(*b, s, 0);
  ASSERT_EQ(d.moves.size(), 1u);
  EXPECT_EQ(d.moves[0].kind, MoveKind::kRetarget);
  EXPECT_EQ(d.moves[0].to_node, 1);
  EXPECT_DOUBLE_EQ(d.moves[0].gain_s, 3600.0);  // finish at 4200 s planned, 600 s now
}

TEST(Balancer, ConfigAndModeValidation) {
  auto c = OnConfig(0);
  EXPECT_FALSE(Balancer::Create(c).ok());
  c = OnConfig();
  c.period_ms = 0;
  EXPECT_FALSE(Balancer::Create(c).ok());
  c = OnConfig();
  c.default_move_cost.restart_s = -1;
  EXPECT_FALSE(Balancer::Create(c).ok());
  EXPECT_EQ(*ParseBalancerMode("dry-run"), BalancerMode::kDryRun);
  EXPECT_EQ(*ParseBalancerMode("on"), BalancerMode::kOn);
  EXPECT_FALSE(ParseBalancerMode("maybe").ok());
  EXPECT_STREQ(BalancerModeName(BalancerMode::kOff), "off");
}

}  // namespace
}  // namespace muster::balance
