// Coordinator unit tests: lost nodes, agent links, restart recovery and adoption.
#include <gtest/gtest.h>

#include "cluster/coordinator/coordinator_test_util.h"

namespace muster::cluster::testing {
namespace {

TEST_F(CoordinatorTest, LostNodeRequeuesItsTasks) {
  auto c = OpenCoordinator();
  auto n1 = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec());
  c->Tick();
  c->OnAgentMessage("n1", n1.get(), Event(*id, 0, 1, "running"));
  // n1 silent past its lease (10 s), fence grace (5 s) and margin (1 s), the coordinator
  // checking all along (a single jump would read as the coordinator itself having been paused).
  for (int s = 0; s < 17; ++s) {
    clock_.Advance(1000);
    c->Tick();
  }
  auto n2 = Connect(*c, "n2", 1);
  c->Tick();
  EXPECT_TRUE(n1->closed);
  auto launches = n2->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].attempt(), 2);
  auto nodes = c->ListNodes();
  ASSERT_EQ(nodes.nodes.size(), 2);
  EXPECT_EQ(nodes.nodes[0].state, "lost");
  EXPECT_DOUBLE_EQ(nodes.nodes[1].load, 1.0);
  // The lost agent comes back still running attempt 1: told to kill it.
  auto back = std::make_shared<FakeChannel>();
  v1::Register reg = MakeRegister("n1", 1);
  auto* r = reg.add_running();
  r->set_job_id(*id);
  r->set_task_index(0);
  r->set_attempt(1);
  ASSERT_TRUE(c->RegisterAgent(reg, "127.0.0.1", back).ok());
  ASSERT_TRUE(back->sent[0].has_register_reply());
  ASSERT_EQ(back->sent[0].register_reply().kill_size(), 1);
  EXPECT_EQ(back->sent[0].register_reply().kill(0).attempt(), 1);
  // Its end report arrives late (twice: agents resend ends after a reconnect): written once to
  // the job's history, and the task stays with attempt 2.
  c->OnAgentMessage("n1", back.get(), Event(*id, 0, 1, "succeeded"));
  c->OnAgentMessage("n1", back.get(), Event(*id, 0, 1, "succeeded"));
  auto job = c->GetJob(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->tasks[0].attempt, 2);
  EXPECT_NE(job->tasks[0].state, TaskState::kSucceeded);
  int late = 0;
  for (const auto& h : job->history)
    if (h.find("late report from n1: task 0 attempt 1 succeeded") != std::string::npos) ++late;
  EXPECT_EQ(late, 1) << job->reason;
}

TEST_F(CoordinatorTest, RegistrationAndEveryHeartbeatGrantALease) {
  auto c = OpenCoordinator();
  v1::Register reg = MakeRegister("n1", 1);
  reg.set_containment("process group only: cannot create /sys/fs/cgroup/muster.n1: EACCES");
  auto n1 = Connect(*c, "n1", 1, reg);
  EXPECT_EQ(c->ListNodes().nodes[0].containment, reg.containment());  // shown by muster nodes
  ASSERT_FALSE(n1->sent.empty());
  ASSERT_TRUE(n1->sent[0].has_register_reply());
  EXPECT_EQ(n1->sent[0].register_reply().lease_ms(), 10000);  // the heartbeat timeout
  EXPECT_EQ(n1->sent[0].register_reply().fence_grace_ms(), 5000);
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_seq(41);
  c->OnAgentMessage("n1", n1.get(), hb);
  ASSERT_TRUE(n1->sent.back().has_lease());
  EXPECT_EQ(n1->sent.back().lease().seq(), 41);
  EXPECT_EQ(n1->sent.back().lease().lease_ms(), 10000);
  // A node already given up gets no grant: its agent's fence keeps counting down.
  clock_.Advance(17000);
  c->Tick();
  const size_t before = n1->sent.size();
  c->OnAgentMessage("n1", n1.get(), hb);
  EXPECT_EQ(n1->sent.size(), before);
}

TEST_F(CoordinatorTest, APausedCoordinatorGivesNodesAFreshLease) {
  auto c = OpenCoordinator();
  auto n1 = Connect(*c, "n1", 1);
  c->Tick();
  clock_.Advance(60000);  // nothing ran for a minute: the coordinator was stopped, not n1
  c->Tick();
  EXPECT_FALSE(n1->closed);
  EXPECT_EQ(c->ListNodes().nodes[0].state, "ready");
  for (int s = 0; s < 17; ++s) {  // still silent a full lost-after later: now it is lost
    clock_.Advance(1000);
    c->Tick();
  }
  EXPECT_TRUE(n1->closed);
}

TEST_F(CoordinatorTest, OutputPastTheLogLimitIsNotStoredAndLimitsAreChecked) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  JobSpec spec = MakeSpec();
  spec.log_limit_mib = 2000;  // above the cluster maximum (1024M)
  auto refused = c->Submit(spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "log-limit 2000M is above this cluster's maximum of 1024M");
  spec.log_limit_mib = 1;
  auto id = c->Submit(spec);
  ASSERT_TRUE(id.ok());
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].log_limit_bytes(), 1 << 20);
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  v1::AgentMessage log;
  log.mutable_log()->set_job_id(*id);
  log.mutable_log()->set_attempt(1);
  log.mutable_log()->set_data(std::string(700 << 10, 'x'));
  c->OnAgentMessage("n1", ch.get(), log);  // 700 KiB: stored
  c->OnAgentMessage("n1", ch.get(), log);  // past 1 MiB + 64 KiB: cut, with a marker
  c->OnAgentMessage("n1", ch.get(), log);  // nothing more
  std::string stored = c->logs().Read(*id, 0, false, 0, 4 << 20);
  const std::string marker = "\n[muster: output past this attempt's log limit was dropped]\n";
  ASSERT_EQ(stored.size(), (1u << 20) + (64u << 10) + marker.size());
  EXPECT_EQ(stored.substr(stored.size() - marker.size()), marker);
}

TEST_F(CoordinatorTest, ALaunchNeverConfirmedIsRequeuedAndItsAttemptKilled) {
  auto c = OpenCoordinator();
  auto n1 = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec());
  ASSERT_TRUE(id.ok());
  c->Tick();
  ASSERT_EQ(n1->Launches().size(), 1u);
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  for (int s = 0; s < 31; ++s) {  // the node stays alive; the launch is never confirmed
    clock_.Advance(1000);
    c->OnAgentMessage("n1", n1.get(), hb);
    c->Tick();
  }
  auto kills = n1->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].attempt(), 1);
  auto launches = n1->Launches();
  ASSERT_EQ(launches.size(), 2u);  // requeued, and placed again on the only node
  EXPECT_EQ(launches[1].attempt(), 2);
  auto job = c->GetJob(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->tasks[0].attempt, 2);
}

// The wall clock steps: liveness is on the monotonic clock, so a step ahead loses no node and a
// step back does not hide a real silence.
class SteppingClock final : public Clock {
 public:
  TimeMs NowMs() const override { return wall; }
  TimeMs MonotonicMs() const override { return mono; }
  TimeMs wall = 1'700'000'000'000, mono = 5'000;
};

TEST_F(CoordinatorTest, AWallClockStepLosesNoNode) {
  SteppingClock clock;
  CoordinatorOptions o;
  o.state_dir = dir_;
  auto c = Coordinator::Open(o, &clock);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto n1 = Connect(**c, "n1", 1);
  (*c)->Tick();
  clock.wall += 3'600'000;
  clock.mono += 200;
  (*c)->Tick();
  EXPECT_FALSE(n1->closed);
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  (*c)->OnAgentMessage("n1", n1.get(), hb);
  clock.wall -= 2 * 3'600'000;  // and back, past where it was
  for (int s = 0; s < 17; ++s) {  // a real silence on the monotonic clock still counts
    clock.mono += 1000;
    clock.wall += 1000;
    (*c)->Tick();
  }
  EXPECT_TRUE(n1->closed);
}

TEST_F(CoordinatorTest, DuplicateAgentNameIsRefused) {
  auto c = OpenCoordinator();
  auto first = Connect(*c, "n1", 1);
  auto second = std::make_shared<FakeChannel>();
  Status s = c->RegisterAgent(MakeRegister("n1", 1), "127.0.0.1", second);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("already connected"), std::string::npos);
  c->OnAgentDisconnected("n1", first.get());
  EXPECT_TRUE(c->RegisterAgent(MakeRegister("n1", 1), "127.0.0.1", second).ok());
}

TEST_F(CoordinatorTest, SilentOldLinkIsReplacedByReRegistration) {
  auto c = OpenCoordinator();
  auto first = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec());
  c->Tick();
  c->OnAgentMessage("n1", first.get(), Event(*id, 0, 1, "running"));
  clock_.Advance(5000);  // the old link went quiet (but not yet past the heartbeat timeout)
  auto second = std::make_shared<FakeChannel>();
  v1::Register reg = MakeRegister("n1", 1);
  auto* r = reg.add_running();
  r->set_job_id(*id);
  r->set_attempt(1);
  ASSERT_TRUE(c->RegisterAgent(reg, "127.0.0.1", second).ok());
  EXPECT_TRUE(first->closed);
  EXPECT_EQ(second->sent[0].register_reply().kill_size(), 0);
  // Messages on the old link no longer count; the new one carries the task on.
  c->OnAgentMessage("n1", first.get(), Event(*id, 0, 1, "failed", 1));
  EXPECT_EQ(TaskState(*c, *id), "running");
  c->OnAgentMessage("n1", second.get(), Event(*id, 0, 1, "succeeded"));
  EXPECT_EQ(TaskState(*c, *id), "succeeded");
}

TEST_F(CoordinatorTest, ProgressAndLogsOfCurrentAttemptOnly) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec(1, 1, false, /*max_retries=*/1));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  v1::AgentMessage p;
  p.mutable_progress()->set_job_id(*id);
  p.mutable_progress()->set_attempt(1);
  p.mutable_progress()->mutable_progress()->set_done(3);
  p.mutable_progress()->mutable_progress()->set_total(10);
  c->OnAgentMessage("n1", ch.get(), p);
  v1::Progress seen;  // kept as the agent sent it
  ASSERT_TRUE(seen.ParseFromString(c->GetJob(*id)->tasks[0].progress));
  EXPECT_DOUBLE_EQ(seen.done(), 3);
  v1::AgentMessage log;
  log.mutable_log()->set_job_id(*id);
  log.mutable_log()->set_attempt(1);
  log.mutable_log()->set_data("one\n");
  c->OnAgentMessage("n1", ch.get(), log);
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "failed", 2));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), log);  // output of attempt 1 once attempt 2 exists: dropped
  log.mutable_log()->set_attempt(2);
  log.mutable_log()->set_data("two\n");
  c->OnAgentMessage("n1", ch.get(), log);
  EXPECT_EQ(c->logs().Read(*id, 0, false, 0, 1000), "one\ntwo\n");
  auto targets = c->LogTargets(*id, -1);
  ASSERT_TRUE(targets.ok());
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_FALSE((*targets)[0].second);
  EXPECT_EQ(c->LogTargets(*id, 5).status().code(), StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, RestartAdoptsReportedTasksAndKeepsQueue) {
  JobId running, queued;
  {
    auto c = OpenCoordinator();
    auto ch = Connect(*c, "n1", 1);
    running = *c->Submit(MakeSpec());
    queued = *c->Submit(MakeSpec());
    c->Tick();
    c->OnAgentMessage("n1", ch.get(), Event(running, 0, 1, "running"));
  }
  auto c = OpenCoordinator();
  EXPECT_EQ(TaskState(*c, running), "running");
  EXPECT_EQ(TaskState(*c, queued), "pending");
  auto ch = std::make_shared<FakeChannel>();
  v1::Register reg = MakeRegister("n1", 1);
  auto* r = reg.add_running();
  r->set_job_id(running);
  r->set_task_index(0);
  r->set_attempt(1);
  auto* unknown = reg.add_running();
  unknown->set_job_id(777);
  unknown->set_attempt(1);
  ASSERT_TRUE(c->RegisterAgent(reg, "127.0.0.1", ch).ok());
  ASSERT_EQ(ch->sent[0].register_reply().kill_size(), 1);
  EXPECT_EQ(ch->sent[0].register_reply().kill(0).job_id(), 777);
  c->Tick();
  EXPECT_TRUE(ch->Launches().empty());  // adopted, not restarted; the GPU is still taken
  c->OnAgentMessage("n1", ch.get(), Event(running, 0, 1, "succeeded"));
  EXPECT_EQ(c->GetJob(running)->state, JobState::kSucceeded);
  c->Tick();
  ASSERT_EQ(ch->Launches().size(), 1u);
  EXPECT_EQ(ch->Launches()[0].job_id(), queued);
}

TEST_F(CoordinatorTest, RestartRequeuesTasksOfNodesThatDoNotReturn) {
  JobId id;
  {
    auto c = OpenCoordinator();
    auto ch = Connect(*c, "n1", 1);
    id = *c->Submit(MakeSpec());
    c->Tick();
    c->OnAgentMessage("n1", ch.get(), Event(id, 0, 1, "running"));
  }
  auto c = OpenCoordinator();
  auto n2 = Connect(*c, "n2", 1);
  c->Tick();
  EXPECT_EQ(TaskState(*c, id), "running");  // n1 may still come back
  // ...and says that this is unconfirmed, not that the task is known to run.
  EXPECT_EQ(c->GetJob(id)->tasks[0].message,
            "unconfirmed: node n1 has not re-registered since the coordinator restarted");
  const NodeListView before = c->ListNodes();
  for (const auto& n : before.nodes)
    EXPECT_EQ(n.state, n.spec.name == "n1" ? "unconfirmed" : "ready");
  c->OnAgentDisconnected("n2", n2.get());
  const NodeListView after = c->ListNodes();
  for (const auto& n : after.nodes)
    if (n.spec.name == "n2") EXPECT_EQ(n.state, "unreachable");
  n2 = Connect(*c, "n2", 1);
  clock_.Advance(31000);
  v1::AgentMessage hb;
  hb.mutable_heartbeat();
  c->OnAgentMessage("n2", n2.get(), hb);
  c->Tick();
  auto launches = n2->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].attempt(), 2);
}

TEST_F(CoordinatorTest, GangStopInterruptedByRestartIsFinished) {
  JobId id;
  std::map<int, std::string> node_of;
  {
    auto c = OpenCoordinator();
    auto n1 = Connect(*c, "n1", 1);
    auto n2 = Connect(*c, "n2", 1);
    id = *c->Submit(MakeSpec(1, 2, /*gang=*/true, /*max_retries=*/1));
    c->Tick();
    for (auto* ch : {n1.get(), n2.get()})
      for (auto& l : ch->Launches()) node_of[l.task_index()] = ch == n1.get() ? "n1" : "n2";
    ASSERT_EQ(node_of.size(), 2u);
    auto* ch1 = node_of[1] == "n1" ? n1.get() : n2.get();
    c->OnAgentMessage(node_of[1], ch1, Event(id, 1, 1, "failed", 1));  // rank 0 told to stop
  }
  auto c = OpenCoordinator();
  auto ch = std::make_shared<FakeChannel>();
  v1::Register reg = MakeRegister(node_of[0], 1);
  auto* r = reg.add_running();
  r->set_job_id(id);
  r->set_task_index(0);
  r->set_attempt(1);
  ASSERT_TRUE(c->RegisterAgent(reg, "127.0.0.1", ch).ok());
  auto kills = ch->Kills();  // the stop is carried on after the restart
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].task_index(), 0);
  c->OnAgentMessage(node_of[0], ch.get(), Event(id, 0, 1, "failed", -15));
  EXPECT_EQ(TaskState(*c, id, 0), "pending");
  EXPECT_EQ(TaskState(*c, id, 1), "pending");
  EXPECT_EQ(c->GetJob(id)->tasks[1].retries, 1);
}

}  // namespace
}  // namespace muster::cluster::testing
