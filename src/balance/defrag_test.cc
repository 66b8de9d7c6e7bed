// Defragmentation: a pending multi-GPU job blocked only because free GPUs are scattered.
#include <gtest/gtest.h>

#include "balance/balancer.h"
#include "balance/test_util.h"
#include "balance/what_if.h"
#include "sched/scheduler.h"

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

// 2 nodes x 2 GPUs, a 1-GPU job on each (finishing at `finish`), a pending 2-GPU job.
sched::ClusterSnapshot Scattered(TimeMs finish, bool ckpt1 = true, bool ckpt2 = true) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("n0", 2), Node("n1", 2)};
  AddRunning(s, 1, 0, 0, {0}, finish, ckpt1);
  AddRunning(s, 2, 0, 1, {0}, finish, ckpt2);
  s.queue = {Pending(3, 1, Req(2), 600 * kSec)};
  return s;
}

Decision MustDecide(const BalancerConfig& c, const sched::ClusterSnapshot& s) {
  auto b = Balancer::Create(c);
  EXPECT_TRUE(b.ok());
  BalanceContext ctx;
  ctx.now_ms = s.now_ms;
  auto d = b->Decide(s, ctx);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : Decision{};
}

std::vector<Move> Migrations(const Decision& d) {
  std::vector<Move> out;
  for (const auto& m : d.moves)
    if (m.kind == MoveKind::kMigrate) out.push_back(m);
  return out;
}

bool StartsNow(const sched::ClusterSnapshot& s, JobId job) {
  auto plan = sched::Schedule(s, {});
  EXPECT_TRUE(plan.ok());
  for (const auto& p : plan->placements)
    if (p.task.job == job && p.start_now) return true;
  return false;
}

TEST(Defragment, OneMigrationMakesThePendingJobFit) {
  auto s = Scattered(kHour);
  ASSERT_FALSE(StartsNow(s, 3));
  Decision d = MustDecide(OnConfig(), s);
  EXPECT_DOUBLE_EQ(d.evaluation.nodes.imbalance_factor, 0.0);  // no imbalance: not gated
  ASSERT_EQ(CountKind(d.moves, MoveKind::kMigrate), 1);
  ASSERT_EQ(CountKind(d.moves, MoveKind::kRetarget), 1);
  ASSERT_EQ(d.moves.size(), 2u);
  const Move& mig = d.moves[0];
  const Move& pin = d.moves[1];
  EXPECT_EQ(mig.job, 1);  // tie between the nodes: the lower index is freed
  EXPECT_EQ(mig.from_node, 0);
  EXPECT_EQ(mig.to_node, 1);
  EXPECT_DOUBLE_EQ(mig.cost_s, 60.0);
  EXPECT_DOUBLE_EQ(mig.gain_s, 3600.0);  // job 3 would wait for the first finish
  EXPECT_EQ(pin.job, 3);
  EXPECT_EQ(pin.to_node, 0);
  EXPECT_EQ(pin.to_gpus, (std::vector<std::vector<int>>{{0, 1}}));

  // The migration alone lets the scheduler start job 3 now.
  auto after = ApplyMoves(s, Migrations(d));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->nodes[0].free.FreeGpuCount(), 2);
  EXPECT_EQ(after->nodes[1].free.FreeGpuCount(), 0);
  EXPECT_TRUE(StartsNow(*after, 3));
  // And with the pin applied too, job 3 runs on n0.
  auto all = ApplyMoves(s, d.moves);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(all->queue.empty());
}

TEST(Defragment, ChoosesTheNodeNeedingFewestMoves) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("n0", 4), Node("n1", 4)};
  AddRunning(s, 1, 0, 0, {0}, kHour);  // n0: 1 free, needs 2 moves
  AddRunning(s, 2, 0, 0, {1}, kHour);
  AddRunning(s, 3, 0, 0, {2}, kHour);
  AddRunning(s, 4, 0, 1, {0}, kHour);  // n1: 2 free, needs 1 move
  AddRunning(s, 5, 0, 1, {1}, kHour);
  s.queue = {Pending(9, 1, Req(3), 600 * kSec)};
  Decision d = MustDecide(OnConfig(), s);
  auto migs = Migrations(d);
  ASSERT_EQ(migs.size(), 1u);
  EXPECT_EQ(migs[0].from_node, 1);
  EXPECT_EQ(migs[0].to_node, 0);
  auto after = ApplyMoves(s, migs);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(StartsNow(*after, 9));
}

TEST(Defragment, NeverMovesNonCheckpointableJobs) {
  Decision d = MustDecide(OnConfig(), Scattered(kHour, false, false));
  EXPECT_TRUE(d.moves.empty());
  bool noted = false;
  for (const auto& n : d.notes) noted = noted || n.find("no node can be freed") != n.npos;
  EXPECT_TRUE(noted);

  // Only job 2 can move: node n1 is freed instead.
  d = MustDecide(OnConfig(), Scattered(kHour, false, true));
  auto migs = Migrations(d);
  ASSERT_EQ(migs.size(), 1u);
  EXPECT_EQ(migs[0].job, 2);
  EXPECT_EQ(migs[0].to_node, 0);
}

TEST(Defragment, NoMoveWhenTheWaitIsShorterThanTheCost) {
  Decision d = MustDecide(OnConfig(), Scattered(45 * kSec));  // wait 45 s < cost 60 s
  EXPECT_TRUE(d.moves.empty());
  d = MustDecide(OnConfig(), Scattered(60 * kSec));  // equal: still no move
  EXPECT_TRUE(d.moves.empty());
}

TEST(Defragment, NothingToDoWhenFreeGpusAreNotEnoughInTotal) {
  auto s = Scattered(kHour);
  s.queue = {Pending(3, 1, Req(3), 600 * kSec)};  // 2 free in total, needs 3
  EXPECT_TRUE(MustDecide(OnConfig(), s).moves.empty());
}

TEST(Defragment, CanBeGatedByHysteresis) {
  auto c = OnConfig(1, 0.25);
  c.defrag_skips_threshold = false;
  EXPECT_TRUE(MustDecide(c, Scattered(kHour)).moves.empty());
  c.defragment = false;
  c.defrag_skips_threshold = true;
  EXPECT_TRUE(MustDecide(c, Scattered(kHour)).moves.empty());
}

TEST(Defragment, GangOnOneNodeIsADemandOfAllItsRanks) {
  auto s = Scattered(kHour);
  s.queue = {Pending(3, 2, Req(1), 600 * kSec, /*gang=*/true, false, /*ranks_per_node=*/2)};
  Decision d = MustDecide(OnConfig(), s);
  ASSERT_EQ(Migrations(d).size(), 1u);
  ASSERT_EQ(d.moves.size(), 2u);
  EXPECT_EQ(d.moves[1].tasks, (std::vector<int>{0, 1}));
  auto all = ApplyMoves(s, d.moves);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(all->queue.empty());
}

}  // namespace
}  // namespace muster::balance
