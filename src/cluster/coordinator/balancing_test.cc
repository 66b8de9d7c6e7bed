// Unit tests of the coordinator's live balancer (balancing.cc) with fake agents and a manual
// clock: the defragmentation scenario (two 1-GPU checkpointable jobs on two 2-GPU nodes, a 2-GPU
// job pending) applied in mode on; dry-run only reports; a migrated task is requeued without a
// retry and pinned; GetBalance and the Prometheus text carry the evaluation.
#include <gtest/gtest.h>

#include "cluster/coordinator/coordinator_test_util.h"

namespace muster::cluster::testing {
namespace {

// A migration the balancer decided: the moved job and its nodes.
struct Migration {
  JobId job = 0;
  std::string from, to;
};

// A job's history without its prediction lines (every job has those): what happened to it.
std::vector<std::string> Events(const JobView& j) {
  std::vector<std::string> out;
  for (const auto& h : j.history)
    if (!IsPredictionLine(h)) out.push_back(h);
  return out;
}

class BalancingTest : public CoordinatorTest {
 protected:
  CoordinatorPtr OpenWith(balance::BalancerMode mode) {
    CoordinatorOptions o;
    o.state_dir = dir_;
    o.scheduler.scorers = {"spread"};  // one job per node, so the 2-GPU job is blocked
    o.balancer.mode = mode;
    o.balancer.period_ms = 1000;
    o.balancer.scheduler = o.scheduler;
    auto c = Coordinator::Open(o, &clock_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return CoordinatorPtr(c.ok() ? std::move(c).value().release() : nullptr);
  }
  static JobSpec Spec(int gpus, bool checkpointable, double est_s) {
    JobSpec s = MakeSpec(gpus);
    s.checkpointable = checkpointable;
    s.est_time_s = est_s;
    return s;
  }
  // Two nodes with 2 GPUs, one 1-GPU checkpointable job running on each, a 2-GPU job queued.
  void SetUpFragmented(Coordinator& c) {
    a_ = Connect(c, "node-a", 2);
    b_ = Connect(c, "node-b", 2);
    for (int i = 0; i < 2; ++i) {
      auto id = c.Submit(Spec(1, true, 600));
      ASSERT_TRUE(id.ok());
      c.Tick();
    }
    for (JobId id : {JobId{1}, JobId{2}}) {
      auto info = c.GetJob(id);
      ASSERT_TRUE(info.ok());
      const auto& t = info->tasks[0];
      ASSERT_EQ(t.state, TaskState::kLaunching);
      c.OnAgentMessage(t.node, t.node == "node-a" ? a_.get() : b_.get(),
                       Event(id, 0, t.attempt, "running"));
    }
    ASSERT_NE(c.GetJob(1)->tasks[0].node, c.GetJob(2)->tasks[0].node);
    auto big = c.Submit(Spec(2, false, 60));
    ASSERT_TRUE(big.ok());
    c.Tick();
    ASSERT_EQ(TaskState(c, *big), "pending");
  }
  // The fragmented set-up, then a balancer period: the migration it applied (job 0 if none).
  Migration Migrate(Coordinator& c) {
    SetUpFragmented(c);
    clock_.Advance(1500);
    c.Tick();
    Migration m;
    const BalanceView st = c.GetBalance();
    for (const auto& move : st.moves)
      if (move.kind == "migrate") m = {move.job_id, move.from_node, move.to_node};
    return m;
  }
  FakeChannel* ChannelOf(const std::string& node) { return node == "node-a" ? a_.get() : b_.get(); }
  std::shared_ptr<FakeChannel> a_, b_;
};

TEST_F(BalancingTest, DefragmentationMigratesWithoutRetryAndUnblocksTheBigJob) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  SetUpFragmented(*c);
  clock_.Advance(1500);
  c->Tick();  // a balancer period: defragmentation moves one job away

  auto st = c->GetBalance();
  ASSERT_GT(st.evaluated_ms, 0);
  ASSERT_GE(st.moves.size(), 2);
  const BalanceMoveView* mig = nullptr;
  for (const auto& m : st.moves) {
    EXPECT_EQ(m.outcome, "applied") << m.text;
    if (m.kind == "migrate") mig = &m;
  }
  ASSERT_NE(mig, nullptr);
  const JobId moved = mig->job_id;
  const std::string from = mig->from_node, to = mig->to_node;
  ASSERT_NE(from, to);

  // Kill with a grace period went to the moved job's task on its node.
  auto kills = ChannelOf(from)->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].job_id(), moved);
  EXPECT_GT(kills[0].grace_ms(), 0);
  auto info = c->GetJob(moved);
  ASSERT_TRUE(info.ok());
  const std::vector<std::string> events = Events(*info);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events[0].find("migrated from " + from + " to " + to), std::string::npos)
      << events[0];

  // The task checkpoints and exits 143: back to pending, no retry counted, relaunched on `to`.
  c->OnAgentMessage(from, ChannelOf(from), Event(moved, 0, 1, "failed", 143));
  info = c->GetJob(moved);
  EXPECT_EQ(info->tasks[0].state, TaskState::kPending);
  EXPECT_EQ(info->tasks[0].retries, 0);
  EXPECT_NE(info->reason.find("migrated to " + to), std::string::npos) << info->reason;
  c->Tick();
  info = c->GetJob(moved);
  EXPECT_EQ(info->tasks[0].state, TaskState::kLaunching);
  EXPECT_EQ(info->tasks[0].node, to);
  EXPECT_EQ(info->tasks[0].attempt, 2);
  // The 2-GPU job starts on the node that was freed.
  auto big = c->GetJob(3);
  EXPECT_EQ(big->tasks[0].state, TaskState::kLaunching);
  EXPECT_EQ(big->tasks[0].node, from);
  // The history survives a restart.
  c.reset();
  auto again = OpenWith(balance::BalancerMode::kOn);
  auto after = again->GetJob(moved);
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(Events(*after).empty());
  EXPECT_NE(Events(*after)[0].find("migrated from"), std::string::npos);
}

TEST_F(BalancingTest, RestartDuringAMigrationKeepsItAMigration) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const auto [moved, from, to] = Migrate(*c);
  ASSERT_GT(moved, 0);
  const JobId other = moved == 1 ? 2 : 1;
  c.reset();  // the coordinator restarts before the task has stopped

  c = OpenWith(balance::BalancerMode::kOn);
  auto report = [&](const std::string& node, JobId job) {
    v1::Register reg = MakeRegister(node, 2);
    auto* r = reg.add_running();
    r->set_job_id(job);
    r->set_task_index(0);
    r->set_attempt(1);
    r->set_start_ms(clock_.NowMs());
    return Connect(*c, node, 2, reg);
  };
  auto from_ch = report(from, moved);
  auto to_ch = report(to, other);
  auto kills = from_ch->Kills();
  ASSERT_EQ(kills.size(), 1u) << "the Kill of the migration is sent again";
  EXPECT_EQ(kills[0].job_id(), moved);
  c->OnAgentMessage(from, from_ch.get(), Event(moved, 0, 1, "failed", 143));
  auto info = c->GetJob(moved);
  EXPECT_EQ(info->tasks[0].state, TaskState::kPending);
  EXPECT_EQ(info->tasks[0].retries, 0);
  c->Tick();
  info = c->GetJob(moved);
  EXPECT_EQ(info->tasks[0].state, TaskState::kLaunching);
  EXPECT_EQ(info->tasks[0].node, to) << "the pin survived the restart";
  EXPECT_EQ(TaskState(*c, 3), "launching");
  EXPECT_EQ(c->GetJob(3)->tasks[0].node, from);
}

TEST_F(BalancingTest, DryRunReportsTheMoveButSendsNothing) {
  auto c = OpenWith(balance::BalancerMode::kDryRun);
  SetUpFragmented(*c);
  clock_.Advance(1500);
  c->Tick();
  auto st = c->GetBalance();
  EXPECT_EQ(st.mode, "dry-run");
  ASSERT_GE(st.moves.size(), 1);
  for (const auto& m : st.moves) {
    EXPECT_FALSE(m.apply);
    EXPECT_EQ(m.outcome, "dry-run");
  }
  EXPECT_TRUE(a_->Kills().empty());
  EXPECT_TRUE(b_->Kills().empty());
  EXPECT_EQ(TaskState(*c, 3), "pending");
  EXPECT_TRUE(Events(*c->GetJob(1)).empty());
}

TEST_F(BalancingTest, NonCheckpointableJobsAreNeverMigrated) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  a_ = Connect(*c, "node-a", 2);
  b_ = Connect(*c, "node-b", 2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c->Submit(Spec(1, false, 600)).ok());
    c->Tick();
  }
  ASSERT_TRUE(c->Submit(Spec(2, false, 60)).ok());
  c->Tick();
  clock_.Advance(1500);
  c->Tick();
  auto st = c->GetBalance();
  EXPECT_EQ(st.moves.size(), 0);
  EXPECT_TRUE(a_->Kills().empty());
  EXPECT_TRUE(b_->Kills().empty());
}

TEST_F(BalancingTest, MigratingTaskThatSucceedsCountsAsSucceeded) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const Migration m = Migrate(*c);
  ASSERT_GT(m.job, 0);
  // It finished on its own before the stop reached it.
  c->OnAgentMessage(m.from, ChannelOf(m.from), Event(m.job, 0, 1, "succeeded", 0));
  EXPECT_EQ(c->GetJob(m.job)->state, JobState::kSucceeded);
}

TEST_F(BalancingTest, AMigratingTaskThatSavesAndExitsZeroOnTheStopResumesAtTheTarget) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const Migration m = Migrate(*c);
  ASSERT_GT(m.job, 0);
  v1::AgentMessage ev = Event(m.job, 0, 1, "succeeded", 0);
  ev.mutable_event()->set_stopped_on_request(true);
  c->OnAgentMessage(m.from, ChannelOf(m.from), ev);
  auto j = c->GetJob(m.job);
  EXPECT_NE(j->state, JobState::kSucceeded);
  EXPECT_EQ(j->tasks[0].state, TaskState::kPending);
  EXPECT_EQ(j->tasks[0].retries, 0);
}

// Advances the clock a second at a time for up to `seconds` (a coordinator that jumped would
// give every node a grace period), `alive` heartbeating each second.
// Stops early once `job`'s task 0 is launching.
void Pass(Coordinator& c, ManualClock& clock, int seconds, const std::string& alive,
          FakeChannel* ch, JobId job) {
  for (int i = 0; i < seconds && c.GetJob(job)->tasks[0].state != TaskState::kLaunching; ++i) {
    clock.Advance(1000);
    v1::AgentMessage hb;
    hb.mutable_heartbeat()->set_seq(i + 1);
    c.OnAgentMessage(alive, ch, hb);
    c.Tick();
  }
}

TEST_F(BalancingTest, ACancelDuringAMigrationEndsItCancelledNotMoved) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const Migration m = Migrate(*c);
  ASSERT_GT(m.job, 0);
  std::vector<JobId> cancel;
  cancel.push_back(m.job);
  ASSERT_TRUE(c->Cancel(cancel, {})[0].ok);
  // The task stops (its checkpoint-and-exit answer to the migration's SIGTERM).
  c->OnAgentMessage(m.from, ChannelOf(m.from), Event(m.job, 0, 1, "failed", 143));
  auto info = c->GetJob(m.job);
  EXPECT_EQ(info->state, JobState::kCancelled);
  EXPECT_EQ(info->tasks[0].state, TaskState::kCancelled);
  const size_t launches_to = ChannelOf(m.to)->Launches().size();
  c->Tick();
  EXPECT_EQ(ChannelOf(m.to)->Launches().size(), launches_to) << "a cancelled job never moves";
  EXPECT_EQ(c->GetJob(m.job)->state, JobState::kCancelled);
}

TEST_F(BalancingTest, AMigrationWhoseSourceNodeIsLostRunsTheTaskOnceMore) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const Migration m = Migrate(*c);
  ASSERT_GT(m.job, 0);
  // The source node goes away before the task reports that it stopped.
  c->OnAgentDisconnected(m.from, ChannelOf(m.from));
  Pass(*c, clock_, 60, m.to, ChannelOf(m.to), m.job);
  auto info = c->GetJob(m.job);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tasks[0].state, TaskState::kLaunching) << info->reason;
  EXPECT_EQ(info->tasks[0].node, m.to);
  EXPECT_EQ(info->tasks[0].attempt, 2);
  EXPECT_EQ(ChannelOf(m.to)->Launches().back().job_id(), m.job);
  // The old attempt's report, arriving late from the healed node, changes nothing.
  c->OnAgentMessage(m.from, ChannelOf(m.from), Event(m.job, 0, 1, "failed", 143));
  info = c->GetJob(m.job);
  EXPECT_EQ(info->tasks[0].state, TaskState::kLaunching);
  EXPECT_EQ(info->tasks[0].attempt, 2);
  c->OnAgentMessage(m.to, ChannelOf(m.to), Event(m.job, 0, 2, "running"));
  c->OnAgentMessage(m.to, ChannelOf(m.to), Event(m.job, 0, 2, "succeeded"));
  EXPECT_EQ(c->GetJob(m.job)->state, JobState::kSucceeded);
}

TEST_F(BalancingTest, AMigrationWhoseTargetIsLostRunsTheTaskElsewhere) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  const Migration m = Migrate(*c);
  ASSERT_GT(m.job, 0);
  // The target goes away while the task stops on the source.
  c->OnAgentDisconnected(m.to, ChannelOf(m.to));
  c->OnAgentMessage(m.from, ChannelOf(m.from), Event(m.job, 0, 1, "failed", 143));
  EXPECT_EQ(c->GetJob(m.job)->tasks[0].state, TaskState::kPending);
  Pass(*c, clock_, 60, m.from, ChannelOf(m.from), m.job);
  auto info = c->GetJob(m.job);
  EXPECT_EQ(info->tasks[0].state, TaskState::kLaunching) << info->reason;
  EXPECT_EQ(info->tasks[0].node, m.from) << "not pinned to a node that is gone";
  EXPECT_EQ(info->tasks[0].retries, 0);
}

TEST_F(BalancingTest, MetricsTextAndLoads) {
  auto c = OpenWith(balance::BalancerMode::kOn);
  SetUpFragmented(*c);
  clock_.Advance(1500);
  c->Tick();
  auto st = c->GetBalance();
  ASSERT_EQ(st.node_loads.size(), 2);
  ASSERT_EQ(st.gpu_loads.size(), 4);
  for (const auto& n : st.node_loads) EXPECT_GT(n.load, 0) << n.node;
  EXPECT_EQ(st.trend.size(), 2);  // the first pass (at the first submission) and this one
  EXPECT_EQ(st.queue_length, 1);
  EXPECT_EQ(st.running_tasks, 2);
  std::string text = c->MetricsText();
  EXPECT_NE(text.find("muster_jain_index "), std::string::npos);
  EXPECT_NE(text.find("muster_imbalance_factor "), std::string::npos);
  EXPECT_NE(text.find("muster_node_load{node=\"node-a\"}"), std::string::npos);
  EXPECT_NE(text.find("muster_queue_length 1"), std::string::npos) << text;
  EXPECT_NE(text.find("muster_running_tasks 2"), std::string::npos) << text;
  EXPECT_NE(text.find("muster_balance_moves_total{outcome=\"applied\"}"), std::string::npos);
}

TEST_F(BalancingTest, UsageHistoryIsDownsampledAndPruned) {
  {
    auto c = OpenWith(balance::BalancerMode::kDryRun);
    a_ = Connect(*c, "node-a", 2);
    for (int i = 0; i < 30; ++i) {  // 30 periods of 1.5 s = 45 s: rows at most every 10 s
      clock_.Advance(1500);
      v1::AgentMessage hb;  // 4 of the node's 8 CPUs busy, GPU 1 at 80%
      hb.mutable_heartbeat()->mutable_usage()->set_cpu_load(4.0);
      hb.mutable_heartbeat()->mutable_usage()->add_gpus()->set_utilization(-1);
      hb.mutable_heartbeat()->mutable_usage()->add_gpus()->set_utilization(0.8);
      c->OnAgentMessage("node-a", a_.get(), hb);
      c->Tick();
    }
    auto st = c->GetBalance();
    ASSERT_EQ(st.node_loads.size(), 1);
    EXPECT_NEAR(st.node_loads[0].measured, 0.8, 1e-9);  // GPU readings win over CPU load
    ASSERT_EQ(st.gpu_loads.size(), 2);
    EXPECT_EQ(st.gpu_loads[0].measured, -1);
    EXPECT_NEAR(st.gpu_loads[1].measured, 0.8, 1e-9);
    EXPECT_NEAR(st.gpu_loads[1].load, 0.4, 1e-9);  // 0.5 * P (idle: 0) + 0.5 * 0.8
    ASSERT_TRUE(c->store().Flush().ok());
    auto rows = c->store().LoadUsage(0);
    ASSERT_TRUE(rows.ok());
    EXPECT_GE(rows->size(), 4u);
    EXPECT_LE(rows->size(), 6u);
    for (size_t i = 1; i < rows->size(); ++i)
      EXPECT_GE((*rows)[i].time_ms - (*rows)[i - 1].time_ms, 10000);
    (void)c->store().PruneUsage(clock_.NowMs() - 20000);
    ASSERT_TRUE(c->store().Flush().ok());
    rows = c->store().LoadUsage(0);
    ASSERT_TRUE(rows.ok());
    EXPECT_LE(rows->size(), 3u);
    for (const auto& r : *rows) EXPECT_GE(r.time_ms, clock_.NowMs() - 20000);
  }
}

}  // namespace
}  // namespace muster::cluster::testing
