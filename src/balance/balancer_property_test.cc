// Properties of Decide over random clusters (seeded, reproducible): every returned move applies
// cleanly to the snapshot (no target oversubscribed, every task where the move says), no
// non-checkpointable job is migrated, a migrated job moves with all its running tasks, a job
// migrates at most once per period, pending tasks are taken at most once (a steal may split one
// array job's tasks over several target nodes), and the same input gives the same decision.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "balance/balancer.h"
#include "balance/test_util.h"
#include "balance/what_if.h"

namespace muster::balance {
namespace {

using testing_util::AddRunning;
using testing_util::Node;
using testing_util::OnConfig;
using testing_util::Pending;
using testing_util::Req;

constexpr TimeMs kSec = 1000;

sched::ClusterSnapshot RandomCluster(std::mt19937_64& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  sched::ClusterSnapshot s;
  s.now_ms = 1000 * kSec;
  const int nodes = pick(2, 6);
  for (int n = 0; n < nodes; ++n)
    s.nodes.push_back(Node("n" + std::to_string(n), pick(1, 4), 0.5 * pick(1, 4)));
  JobId next = 1;
  for (int n = 0; n < nodes; ++n) {
    auto& free = s.nodes[n].free.gpu_free;
    for (int g = 0; g < static_cast<int>(free.size()); ++g) {
      if (!free[g] || pick(0, 2) == 0) continue;
      std::vector<int> gpus{g};
      if (g + 1 < static_cast<int>(free.size()) && free[g + 1] && pick(0, 3) == 0)
        gpus.push_back(g + 1);
      const bool gang = gpus.size() == 2 && pick(0, 1) == 0;
      const TimeMs finish = s.now_ms + pick(10, 20000) * kSec;
      const bool ckpt = pick(0, 3) != 0;
      if (gang) {
        AddRunning(s, next, 0, n, {gpus[0]}, finish, ckpt);
        AddRunning(s, next, 1, n, {gpus[1]}, finish, ckpt);
      } else {
        AddRunning(s, next, 0, n, gpus, finish, ckpt);
      }
      ++next;
    }
  }
  const int queued = pick(0, 4);
  for (int q = 0; q < queued; ++q) {
    auto j =
        Pending(next++, pick(1, 4), Req(pick(1, 3)), pick(60, 5000) * kSec, false, pick(0, 1) == 1);
    if (pick(0, 2) == 0) j.pinned_node = pick(0, nodes - 1);
    if (j.spec->array.empty()) j.pending_tasks.resize(1);
    s.queue.push_back(std::move(j));
  }
  return s;
}

TEST(BalancerProperty, MovesAreConsistentAndRespectInvariants) {
  std::mt19937_64 rng(20261127);
  int total_moves = 0;
  std::map<MoveKind, int> kinds;
  for (int trial = 0; trial < 400; ++trial) {
    auto s = RandomCluster(rng);
    MeasuredUsage u;
    u.nodes.resize(s.nodes.size());
    for (auto& n : u.nodes) n.speed_factor = std::uniform_real_distribution<>(0.3, 1.0)(rng);
    auto c = OnConfig(1, 0.0);
    auto b1 = Balancer::Create(c);
    auto b2 = Balancer::Create(c);
    BalanceContext ctx;
    ctx.now_ms = s.now_ms;
    ctx.usage = u;
    auto d = b1->Decide(s, ctx);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    auto again = b2->Decide(s, ctx);
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(d->moves.size(), again->moves.size()) << "trial " << trial;

    std::map<JobId, std::set<int>> running_tasks;
    std::map<JobId, bool> checkpointable;
    for (const auto& t : s.running) {
      running_tasks[t.task.job].insert(t.task.index);
      checkpointable[t.task.job] = t.checkpointable;
    }
    std::map<JobId, int> migrations;
    std::map<JobId, std::set<int>> started;  // pending tasks taken by steal/retarget
    for (size_t i = 0; i < d->moves.size(); ++i) {
      const Move& m = d->moves[i];
      EXPECT_EQ(m.ToString(), again->moves[i].ToString());
      EXPECT_TRUE(m.apply);
      EXPECT_NE(m.from_node, m.to_node);
      ++kinds[m.kind];
      if (m.kind == MoveKind::kMigrate) {
        EXPECT_TRUE(checkpointable[m.job]) << m.ToString();
        EXPECT_EQ(std::set<int>(m.tasks.begin(), m.tasks.end()), running_tasks[m.job])
            << m.ToString();
        EXPECT_GT(m.gain_s, m.cost_s) << m.ToString();
        ++migrations[m.job];
      } else {
        EXPECT_GT(m.gain_s, 0) << m.ToString();
        for (int t : m.tasks) EXPECT_TRUE(started[m.job].insert(t).second) << m.ToString();
      }
    }
    for (const auto& [job, n] : migrations) {
      EXPECT_EQ(n, 1) << "job " << job;
      EXPECT_EQ(started.count(job), 0u) << "job " << job;
    }
    auto after = ApplyMoves(s, d->moves);
    EXPECT_TRUE(after.ok()) << "trial " << trial << ": " << after.status().ToString();
    if (after.ok()) {
      for (const auto& v : after->nodes) {
        EXPECT_GE(v.free.milli_cpus, 0);
        EXPECT_GE(v.free.memory_mib, 0);
      }
    }
    total_moves += static_cast<int>(d->moves.size());
  }
  // The generator must exercise the rules, or the properties above say nothing.
  EXPECT_GT(kinds[MoveKind::kMigrate], 20);
  EXPECT_GT(kinds[MoveKind::kSteal] + kinds[MoveKind::kRetarget], 5);
  std::cout << "moves " << total_moves << " (migrate " << kinds[MoveKind::kMigrate] << ", steal "
            << kinds[MoveKind::kSteal] << ", retarget " << kinds[MoveKind::kRetarget] << ")\n";
}

// A cluster of the size the coordinator targets per period (500 nodes x 8 GPUs, mixed speeds,
// ~3,000 running jobs, 300 queued, half of them pinned): the decision stays consistent. Its run
// time is printed by GoogleTest, not asserted.
TEST(BalancerProperty, LargeClusterDecisionApplies) {
  std::mt19937_64 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  sched::ClusterSnapshot s;
  s.now_ms = 0;
  for (int n = 0; n < 500; ++n)
    s.nodes.push_back(Node("n" + std::to_string(n), 8, n % 5 == 0 ? 2.0 : 1.0, 128000, 1 << 20));
  JobId next = 1;
  for (int n = 0; n < 500; ++n)
    for (int g = 0; g < 8; ++g)
      if (pick(0, 4) != 0)
        AddRunning(s, next++, 0, n, {g}, pick(60, 36000) * kSec, pick(0, 1) == 1);
  for (int q = 0; q < 300; ++q) {
    auto j = Pending(next++, 1, Req(pick(1, 4)), pick(60, 3600) * kSec);
    if (pick(0, 1) == 0) j.pinned_node = pick(0, 499);
    s.queue.push_back(std::move(j));
  }
  auto b = Balancer::Create(OnConfig(1, 0.0));
  BalanceContext ctx;
  ctx.now_ms = s.now_ms;
  auto d = b->Decide(s, ctx);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->moves.empty());
  auto after = ApplyMoves(s, d->moves);
  EXPECT_TRUE(after.ok()) << after.status().ToString();
  std::map<MoveKind, int> kinds;
  for (const auto& m : d->moves) ++kinds[m.kind];
  std::cout << "running " << s.running.size() << ", moves " << d->moves.size() << " (migrate "
            << kinds[MoveKind::kMigrate] << ", steal/retarget "
            << kinds[MoveKind::kSteal] + kinds[MoveKind::kRetarget] << ")\n";
}

}  // namespace
}  // namespace muster::balance
