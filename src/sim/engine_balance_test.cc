// The load balancer driving the replay: a hand-built migration off a slow node (timeline computed
// by hand), non-checkpointable jobs never migrated, conservation of work and of migration
// overhead with the balancer on, dry-run changing nothing, and determinism.
#include <gtest/gtest.h>

#include "sim/engine.h"
#include "sim/generator.h"

namespace muster::sim {
namespace {

// Jobs given as (submit s, duration s, gpus, checkpointable).
Workload MakeWorkload(std::initializer_list<std::tuple<int, int, int, bool>> jobs) {
  Workload w;
  w.users = {"u"};
  for (auto [t, d, g, c] : jobs) {
    SimJob j;
    j.submit_ms = t * 1000;
    j.duration_ms = d * 1000;
    j.gpus = g;
    j.checkpointable = c;
    w.jobs.push_back(j);
  }
  return w;
}

SimOptions WithBalancer(balance::BalancerMode mode) {
  SimOptions o;
  o.keep_outcomes = true;
  o.balancer.mode = mode;
  o.balancer.period_ms = 60'000;
  o.balancer.consecutive_periods = 3;
  o.balancer.default_move_cost = {30, 30, 0};
  return o;
}

SimResult Replay(const Workload& w, const ClusterConfig& c, const SimOptions& o) {
  auto r = Simulate(w, c, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SimResult{};
}

// One 1-GPU node at half speed and one at full speed.
ClusterConfig SlowAndFast() {
  ClusterConfig c;
  c.groups = {{1, 1, "slow", 0.5}, {1, 1, "fast", 1.0}};
  return c;
}

// Job 0 (10,000 reference s) takes the first node the scheduler picks, job 1 (100 s) the other.
// Which node is slow is checked from the balancer-off run, so the test does not depend on the
// scorer's tie-breaking.
TEST(SimBalancer, MigrationOffASlowNodeShortensTheJob) {
  Workload w = MakeWorkload({{0, 10'000, 1, true}, {0, 100, 1, false}});
  SimResult off = Replay(w, SlowAndFast(), WithBalancer(balance::BalancerMode::kOff));
  SimResult on = Replay(w, SlowAndFast(), WithBalancer(balance::BalancerMode::kOn));
  ASSERT_EQ(off.outcomes.size(), 2u);
  ASSERT_EQ(on.outcomes.size(), 2u);
  // Off: the short job got the fast node, the long one runs at half speed: 20,000 s.
  ASSERT_EQ(off.outcomes[1].finish_ms, 100'000);
  ASSERT_EQ(off.outcomes[0].finish_ms, 20'000'000);
  EXPECT_EQ(off.migrations, 0);
  // On: periods at 60, 120, 180 s are over the threshold (the slow node is full, the fast one
  // idles from 100 s); at 180 s (k = 3) the long job has done 90 reference s, moves, pays 60 s
  // and runs its 9,910 s left at full speed: 180 + 60 + 9,910 = 10,150 s.
  EXPECT_EQ(on.migrations, 1);
  EXPECT_EQ(on.outcomes[0].migrations, 1);
  EXPECT_EQ(on.outcomes[0].finish_ms, 10'150'000);
  EXPECT_EQ(on.outcomes[1].finish_ms, 100'000);
  EXPECT_LT(on.jct_s.mean, off.jct_s.mean);
  EXPECT_LT(on.makespan_s, off.makespan_s);
  EXPECT_EQ(on.preemptions, 0);  // a migration is not a preemption
  EXPECT_DOUBLE_EQ(on.migration_overhead_gpu_seconds, 60);
  EXPECT_DOUBLE_EQ(on.outcomes[0].overhead_gpu_seconds, 60);
  // Busy GPU-seconds: 100 + 180 on the slow node + 9,910 on the fast one; overhead apart.
  EXPECT_DOUBLE_EQ(on.busy_gpu_seconds, 100 + 180 + 9'910);
}

TEST(SimBalancer, NonCheckpointableJobIsNeverMigrated) {
  Workload w = MakeWorkload({{0, 10'000, 1, false}, {0, 100, 1, false}});
  SimResult on = Replay(w, SlowAndFast(), WithBalancer(balance::BalancerMode::kOn));
  ASSERT_EQ(on.outcomes.size(), 2u);
  EXPECT_EQ(on.migrations, 0);
  EXPECT_EQ(on.outcomes[0].finish_ms, 20'000'000);
  EXPECT_GT(on.balance_periods, 3);
}

TEST(SimBalancer, DryRunProposesButChangesNothing) {
  Workload w = MakeWorkload({{0, 10'000, 1, true}, {0, 100, 1, false}});
  SimResult off = Replay(w, SlowAndFast(), WithBalancer(balance::BalancerMode::kOff));
  SimResult dry = Replay(w, SlowAndFast(), WithBalancer(balance::BalancerMode::kDryRun));
  EXPECT_GT(dry.proposed_moves, 0);
  EXPECT_EQ(dry.migrations, 0);
  EXPECT_EQ(dry.balancer, "dry-run");
  for (size_t i = 0; i < w.jobs.size(); ++i)
    EXPECT_EQ(dry.outcomes[i].finish_ms, off.outcomes[i].finish_ms);
}

// Fragmentation: 1-GPU checkpointable jobs scattered over 8-GPU nodes and 8-GPU jobs.
Workload Fragmenting(uint64_t seed) {
  GeneratorOptions g;
  g.jobs = 300;
  g.seed = seed;
  g.rate_per_hour = 90;
  g.median_s = 1800;
  g.sigma = 1.0;
  g.max_s = 6 * 3600;
  g.sizes = {{1, 80}, {8, 20}};
  Workload w = Generate(g);
  for (SimJob& j : w.jobs) j.checkpointable = j.gpus == 1;
  return w;
}

TEST(SimBalancer, DryRunLeavesALargerReplayUntouched) {
  Workload w = Fragmenting(5);
  SimOptions off = WithBalancer(balance::BalancerMode::kOff);
  off.single_node_jobs = true;
  off.backfill = true;
  SimOptions dry = off;
  dry.balancer.mode = balance::BalancerMode::kDryRun;
  SimResult a = Replay(w, ParseClusterShape("4x8").value(), off);
  SimResult b = Replay(w, ParseClusterShape("4x8").value(), dry);
  EXPECT_GT(b.proposed_moves, 0);
  ASSERT_EQ(a.outcomes.size(), b.outcomes.size());
  for (size_t i = 0; i < a.outcomes.size(); ++i) {
    EXPECT_EQ(a.outcomes[i].first_start_ms, b.outcomes[i].first_start_ms) << "job " << i;
    EXPECT_EQ(a.outcomes[i].finish_ms, b.outcomes[i].finish_ms) << "job " << i;
  }
  EXPECT_EQ(a.passes, b.passes);
}

TEST(SimBalancer, ConservationWithTheBalancerOn) {
  Workload w = Fragmenting(5);
  SimOptions o = WithBalancer(balance::BalancerMode::kOn);
  o.single_node_jobs = true;  // scattered free GPUs cannot serve an 8-GPU job
  SimResult r = Replay(w, ParseClusterShape("4x8").value(), o);
  ASSERT_EQ(r.outcomes.size(), w.jobs.size());
  EXPECT_GT(r.migrations, 0) << "the workload is meant to trigger defragmentation";
  double want = 0, overhead = 0;
  int64_t migrations = 0;
  for (size_t i = 0; i < w.jobs.size(); ++i) {
    const JobOutcome& o = r.outcomes[i];
    EXPECT_EQ(o.completions, 1) << "job " << i;
    EXPECT_EQ(o.max_gpus_held, w.jobs[i].gpus);
    // Work done equals the trace's (speed 1 everywhere); checkpoint/restart time is apart.
    EXPECT_NEAR(o.gpu_seconds, w.jobs[i].gpus * w.jobs[i].duration_ms / 1000.0, 1e-6);
    EXPECT_NEAR(o.overhead_gpu_seconds, o.migrations * 60.0 * w.jobs[i].gpus, 1e-6);
    EXPECT_GE(o.finish_ms - o.first_start_ms, w.jobs[i].duration_ms + o.migrations * 60'000);
    if (o.migrations > 0) {
      EXPECT_TRUE(w.jobs[i].checkpointable) << "job " << i;
    }
    want += w.jobs[i].gpus * w.jobs[i].duration_ms / 1000.0;
    overhead += o.overhead_gpu_seconds;
    migrations += o.migrations;
  }
  EXPECT_EQ(r.completed, static_cast<int64_t>(w.jobs.size()));
  EXPECT_EQ(r.unfinished, 0);
  EXPECT_EQ(migrations, r.migrations);
  EXPECT_NEAR(r.busy_gpu_seconds, want, 1e-3);
  EXPECT_NEAR(r.migration_overhead_gpu_seconds, overhead, 1e-6);
}

TEST(SimBalancer, OnlyCheckpointableJobsMigrateOnAMixedSpeedCluster) {
  GeneratorOptions g;
  g.jobs = 300;
  g.seed = 9;
  g.rate_per_hour = 60;
  g.median_s = 3600;
  g.sigma = 1.0;
  g.max_s = 12 * 3600;
  g.sizes = {{1, 60}, {2, 20}, {4, 20}};
  Workload w = Generate(g);
  AssignCheckpointable(&w, 0.5, 3);
  ClusterConfig c;
  c.groups = {{2, 4, "fast", 1.0}, {2, 4, "slow", 0.5}};
  SimResult r = Replay(w, c, WithBalancer(balance::BalancerMode::kOn));
  ASSERT_EQ(r.outcomes.size(), w.jobs.size());
  EXPECT_GT(r.migrations, 0);
  int checkpointable = 0;
  for (size_t i = 0; i < w.jobs.size(); ++i) {
    checkpointable += w.jobs[i].checkpointable;
    EXPECT_EQ(r.outcomes[i].completions, 1) << "job " << i;
    if (!w.jobs[i].checkpointable) EXPECT_EQ(r.outcomes[i].migrations, 0) << "job " << i;
  }
  EXPECT_GT(checkpointable, 100);
  EXPECT_LT(checkpointable, 200);
}

TEST(SimBalancer, SameSeedSameResult) {
  ClusterConfig c;
  c.groups = {{2, 8, "fast", 1.0}, {2, 8, "slow", 0.5}};
  SimOptions o = WithBalancer(balance::BalancerMode::kOn);
  o.backfill = true;
  SimResult a = Replay(Fragmenting(21), c, o);
  SimResult b = Replay(Fragmenting(21), c, o);
  ASSERT_EQ(a.outcomes.size(), b.outcomes.size());
  for (size_t i = 0; i < a.outcomes.size(); ++i) {
    EXPECT_EQ(a.outcomes[i].first_start_ms, b.outcomes[i].first_start_ms);
    EXPECT_EQ(a.outcomes[i].finish_ms, b.outcomes[i].finish_ms);
    EXPECT_EQ(a.outcomes[i].migrations, b.outcomes[i].migrations);
  }
  EXPECT_EQ(a.migrations, b.migrations);
  EXPECT_EQ(a.started_moves, b.started_moves);
  EXPECT_DOUBLE_EQ(a.mean_jain, b.mean_jain);
}

TEST(SimBalancer, BadBalancerConfigIsRefused) {
  SimOptions o = WithBalancer(balance::BalancerMode::kOn);
  o.balancer.consecutive_periods = 0;
  EXPECT_FALSE(ValidateOptions(o).ok());
}

}  // namespace
}  // namespace muster::sim
