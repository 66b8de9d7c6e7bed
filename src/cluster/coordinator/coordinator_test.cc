// Coordinator unit tests: submission, lifecycle, retries, dependencies, cancel, gangs, views.
#include <gtest/gtest.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cluster/coordinator/coordinator_test_util.h"

namespace muster::cluster::testing {
namespace {

TEST_F(CoordinatorTest, SubmitWithoutNodesWaitsAndIsDurable) {
  JobId id;
  {
    auto c = OpenCoordinator();
    auto r = c->Submit(MakeSpec());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    id = *r;
    c->Tick();
    auto info = c->GetJob(id);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->state, JobState::kPending);
    EXPECT_EQ(info->reason, "waiting for nodes");
  }
  auto c = OpenCoordinator();
  auto info = c->GetJob(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kPending);
  EXPECT_EQ(info->spec->command[0], "sleep");
  auto next = c->Submit(MakeSpec());
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, id);  // ids are never reused
}

TEST_F(CoordinatorTest, ASubmissionRetriedWithItsRequestIdGetsTheFirstJobEvenAfterARestart) {
  JobSpec spec = MakeSpec();
  spec.user = "ann";
  spec.request_id = "3f2a9c0d";
  JobId first;
  {
    auto c = OpenCoordinator();
    auto a = c->Submit(spec);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    first = *a;
    auto again = c->Submit(spec);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, first);
    // The same id from another user, or no id, is another submission.
    JobSpec bob = spec;
    bob.user = "bob";
    auto other = c->Submit(bob);
    ASSERT_TRUE(other.ok());
    EXPECT_NE(*other, first);
    JobSpec none = spec;
    none.request_id.clear();
    auto n1 = c->Submit(none), n2 = c->Submit(none);
    ASSERT_TRUE(n1.ok() && n2.ok());
    EXPECT_NE(*n1, *n2);
  }
  // A coordinator that loads the state (a restart, or a standby taking over) knows it too.
  auto c = OpenCoordinator();
  auto after = c->Submit(spec);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, first);
  JobQuery all;
  all.include_finished = true;
  EXPECT_EQ(c->ListJobs(all).jobs.size(), 4);
  // A request id is printable ASCII of bounded size, checked like the rest of the spec.
  JobSpec bad = spec;
  bad.request_id = "a b";
  EXPECT_EQ(c->Submit(bad).status().code(), StatusCode::kInvalidArgument);
  bad.request_id = std::string(SpecLimits::kRequestId + 1, 'x');
  EXPECT_EQ(c->Submit(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorTest, RejectsMalformedSpec) {
  auto c = OpenCoordinator();
  JobSpec bad = MakeSpec();
  bad.command.clear();
  auto r = c->Submit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  bad = MakeSpec(1, 2, /*gang=*/true);
  bad.array = {.first = 0, .last = 3};  // a gang cannot be an array
  EXPECT_EQ(c->Submit(bad).status().code(), StatusCode::kInvalidArgument);
  bad = MakeSpec();
  bad.resources.milli_cpus = -1;
  EXPECT_EQ(c->Submit(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c->ListJobs({}).jobs.size(), 0);  // nothing of them was kept
}

TEST_F(CoordinatorTest, LifecycleSubmitLaunchRunSucceed) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 2);
  ASSERT_FALSE(ch->sent.empty());
  ASSERT_TRUE(ch->sent[0].has_register_reply());
  EXPECT_TRUE(ch->sent[0].register_reply().accepted());
  auto id = c->Submit(MakeSpec(1));
  ASSERT_TRUE(id.ok());
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 1u);
  const v1::Launch& l = launches[0];
  EXPECT_EQ(l.job_id(), *id);
  EXPECT_EQ(l.attempt(), 1);
  EXPECT_EQ(l.env().at("MUSTER_JOB_ID"), std::to_string(*id));
  EXPECT_EQ(l.env().at("MUSTER_TASK_INDEX"), "0");
  EXPECT_EQ(l.env().at("MUSTER_ATTEMPT"), "1");
  EXPECT_EQ(l.env().at("CUDA_VISIBLE_DEVICES").size(), 1u);
  EXPECT_EQ(l.env().at("MUSTER_CHECKPOINT_DIR"), dir_ + "/checkpoints/" + std::to_string(*id));
  EXPECT_EQ(TaskState(*c, *id), "launching");

  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  EXPECT_EQ(c->GetJob(*id)->state, JobState::kRunning);
  clock_.Advance(1500);
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "succeeded"));
  auto info = c->GetJob(*id);
  EXPECT_EQ(info->state, JobState::kSucceeded);
  EXPECT_EQ(info->tasks[0].state, TaskState::kSucceeded);
  c->Tick();
  EXPECT_EQ(ch->Launches().size(), 1u);  // nothing launched twice
}

TEST_F(CoordinatorTest, AnAgentOfAnotherWireProtocolIsRefusedWithWhy) {
  auto c = OpenCoordinator();
  v1::Register old = MakeRegister("n1", 1);
  old.clear_protocol();  // as an agent from before the protocol had a number sends it
  Status s = c->RegisterAgent(old, "127.0.0.1", std::make_shared<FakeChannel>());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("speaks wire protocol 0"), std::string::npos) << s.message();
  EXPECT_EQ(c->ListNodes().nodes.size(), 0);
}

// An agent reports running or an end; anything else (unset, a coordinator's own state, a number
// from a newer peer) is ignored and changes nothing.
TEST_F(CoordinatorTest, AnEventWithAStateNoAgentReportsChangesNothing) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec(1));
  ASSERT_TRUE(id.ok());
  c->Tick();
  ASSERT_EQ(ch->Launches().size(), 1u);
  for (v1::TaskState odd : {v1::TASK_STATE_UNSPECIFIED, v1::TASK_STATE_PENDING,
                            v1::TASK_STATE_CANCELLED, static_cast<v1::TaskState>(42)}) {
    v1::AgentMessage m = Event(*id, 0, 1, "running");
    m.mutable_event()->set_state(odd);
    m.mutable_event()->set_peak_memory_bytes(int64_t{1} << 30);
    c->OnAgentMessage("n1", ch.get(), m);
    EXPECT_EQ(TaskState(*c, *id), "launching") << odd;
    EXPECT_EQ(c->GetJob(*id)->tasks[0].peak_memory_mib, 0) << odd;
  }
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  EXPECT_EQ(TaskState(*c, *id), "running");
}

TEST_F(CoordinatorTest, InfeasibleRequestNamesLargestNode) {
  auto c = OpenCoordinator();
  Connect(*c, "small", 1);
  Connect(*c, "big", 2);
  auto r = c->Submit(MakeSpec(4));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInfeasible);
  EXPECT_NE(r.status().message().find("largest node big"), std::string::npos)
      << r.status().message();
  auto gang = c->Submit(MakeSpec(1, 4, /*gang=*/true));
  ASSERT_FALSE(gang.ok());
  EXPECT_NE(gang.status().message().find("gang of 4 ranks"), std::string::npos)
      << gang.status().message();
  EXPECT_TRUE(c->Submit(MakeSpec(1, 3, /*gang=*/true)).ok());
}

TEST_F(CoordinatorTest, RetryGetsNewAttemptAndStaleEventsAreIgnored) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec(1, 1, false, /*max_retries=*/1));
  ASSERT_TRUE(id.ok());
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "failed", 3));
  EXPECT_EQ(TaskState(*c, *id), "pending");
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].attempt(), 2);
  // A late report about attempt 1 changes nothing.
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "succeeded"));
  EXPECT_EQ(TaskState(*c, *id), "launching");
  // Nor does a report from another node.
  auto other = Connect(*c, "n2", 1);
  c->OnAgentMessage("n2", other.get(), Event(*id, 0, 2, "succeeded"));
  EXPECT_EQ(TaskState(*c, *id), "launching");
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 2, "failed", 4));
  auto info = c->GetJob(*id);
  EXPECT_EQ(info->state, JobState::kFailed);
  EXPECT_EQ(info->tasks[0].retries, 1);
  EXPECT_NE(info->reason.find("exit code 4"), std::string::npos) << info->reason;
}

TEST_F(CoordinatorTest, DependenciesWaitThenRunOrFail) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  JobSpec missing = MakeSpec();
  missing.after.push_back(999);
  EXPECT_EQ(c->Submit(missing).status().code(), StatusCode::kNotFound);

  auto a = c->Submit(MakeSpec());
  JobSpec after_a = MakeSpec();
  after_a.after.push_back(*a);
  auto b = c->Submit(after_a);
  ASSERT_TRUE(b.ok());
  c->Tick();
  EXPECT_EQ(c->GetJob(*b)->reason, "waiting for job " + std::to_string(*a));
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "succeeded"));
  c->Tick();
  EXPECT_EQ(TaskState(*c, *b), "launching");

  auto x = c->Submit(MakeSpec());
  JobSpec after_x = MakeSpec();
  after_x.after.push_back(*x);
  auto y = c->Submit(after_x);
  c->OnAgentMessage("n1", ch.get(), Event(*b, 0, 1, "succeeded"));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*x, 0, 1, "failed", 1));
  c->Tick();
  auto info = c->GetJob(*y);
  EXPECT_EQ(info->state, JobState::kFailed);
  EXPECT_EQ(info->reason, "dependency " + std::to_string(*x) + " failed");
}

TEST_F(CoordinatorTest, AfterAnyAfterNotOkTimeoutsAndSingletons) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 8);
  auto a = c->Submit(MakeSpec());
  JobSpec any = MakeSpec(), notok = MakeSpec();
  any.after_any.push_back(*a);
  notok.after_notok.push_back(*a);
  auto when_any = c->Submit(any), when_not = c->Submit(notok);
  c->Tick();
  EXPECT_EQ(c->GetJob(*when_any)->reason, "waiting for job " + std::to_string(*a) + " to end");
  EXPECT_EQ(c->GetJob(*when_not)->reason,
            "waiting for job " + std::to_string(*a) + " to end (afternotok)");
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "failed", 1));
  c->Tick();
  EXPECT_EQ(TaskState(*c, *when_any), "launching");
  EXPECT_EQ(TaskState(*c, *when_not), "launching");
  // afternotok of a job that succeeds can never run.
  auto b = c->Submit(MakeSpec());
  JobSpec not_b = MakeSpec();
  not_b.after_notok.push_back(*b);
  auto never = c->Submit(not_b);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*b, 0, 1, "succeeded"));
  c->Tick();
  EXPECT_EQ(c->GetJob(*never)->state, JobState::kFailed);
  EXPECT_EQ(c->GetJob(*never)->reason,
            "dependency " + std::to_string(*b) +
                " succeeded, and this job runs only if it does not (afternotok)");
  // A dependency that timed out fails an afterok job, with why.
  auto t = c->Submit(MakeSpec());
  JobSpec after_t = MakeSpec();
  after_t.after.push_back(*t);
  auto dep = c->Submit(after_t);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*t, 0, 1, "timeout", 143));
  c->Tick();
  EXPECT_EQ(c->GetJob(*t)->state, JobState::kTimeout);
  EXPECT_EQ(c->GetJob(*dep)->state, JobState::kFailed);
  EXPECT_EQ(c->GetJob(*dep)->reason, "dependency " + std::to_string(*t) + " timed out");
  // Singletons of one name and user run one after another.
  JobSpec solo = MakeSpec();
  solo.name = "solo";
  solo.singleton = true;
  auto s1 = c->Submit(solo), s2 = c->Submit(solo);
  JobSpec other = solo;
  other.name = "other";
  auto s3 = c->Submit(other);
  c->Tick();
  EXPECT_EQ(TaskState(*c, *s1), "launching");
  EXPECT_EQ(TaskState(*c, *s2), "pending");
  EXPECT_EQ(c->GetJob(*s2)->reason,
            "singleton: waiting for job " + std::to_string(*s1) + " (same name)");
  EXPECT_EQ(TaskState(*c, *s3), "launching");
  c->OnAgentMessage("n1", ch.get(), Event(*s1, 0, 1, "succeeded"));
  c->Tick();
  EXPECT_EQ(TaskState(*c, *s2), "launching");
}

TEST_F(CoordinatorTest, AHeldJobWaitsUntilReleasedAndAReleaseStartsItAtTheNextPass) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 8);
  JobSpec spec = MakeSpec();
  spec.hold = true;
  auto held = c->Submit(spec);
  ASSERT_TRUE(held.ok());
  c->Tick();
  c->Tick();  // a pass that is not a prediction pass skips it (it is parked)
  EXPECT_EQ(TaskState(*c, *held), "pending");
  EXPECT_NE(c->GetJob(*held)->reason.find("held by"), std::string::npos)
      << c->GetJob(*held)->reason;
  // Released: the next pass, still within the same prediction period (the clock is manual),
  // starts it.
  auto reply = c->HoldJobs({*held}, /*release=*/true, "root");
  ASSERT_EQ(reply.size(), 1);
  EXPECT_TRUE(reply[0].ok) << reply[0].error;
  c->Tick();
  EXPECT_EQ(TaskState(*c, *held), "launching");
  // Held again while running: nothing else of it is pending; a second release is refused.
  EXPECT_TRUE(c->HoldJobs({*held}, false, "root")[0].ok);
  EXPECT_TRUE(c->HoldJobs({*held}, true, "root")[0].ok);
  EXPECT_FALSE(c->HoldJobs({*held}, true, "root")[0].ok);
}

TEST_F(CoordinatorTest, CancelKillsRunningAndCancelsPending) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  auto run = c->Submit(MakeSpec());
  auto wait = c->Submit(MakeSpec());
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*run, 0, 1, "running"));
  std::vector<JobId> req;
  req.push_back(*run);
  req.push_back(*wait);
  req.push_back(12345);
  auto reply = c->Cancel(req, {});
  ASSERT_EQ(reply.size(), 3);
  EXPECT_TRUE(reply[0].ok);
  EXPECT_TRUE(reply[1].ok);
  EXPECT_FALSE(reply[2].ok);
  auto kills = ch->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].job_id(), *run);
  EXPECT_EQ(kills[0].attempt(), 1);
  EXPECT_EQ(kills[0].grace_ms(), 10000);
  EXPECT_EQ(TaskState(*c, *wait), "cancelled");
  EXPECT_EQ(TaskState(*c, *run), "running");  // holds its GPU until the agent reports
  c->OnAgentMessage("n1", ch.get(), Event(*run, 0, 1, "failed", -15));
  EXPECT_EQ(TaskState(*c, *run), "cancelled");
  EXPECT_EQ(c->GetJob(*run)->state, JobState::kCancelled);
  EXPECT_FALSE(c->Cancel(req, {})[0].ok);  // already cancelled
}

TEST_F(CoordinatorTest, GangRankFailureStopsAndRetriesWholeGang) {
  auto c = OpenCoordinator();
  auto n1 = Connect(*c, "n1", 1);
  auto n2 = Connect(*c, "n2", 1);
  auto id = c->Submit(MakeSpec(1, 2, /*gang=*/true, /*max_retries=*/1));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  c->Tick();
  auto l1 = n1->Launches(), l2 = n2->Launches();
  ASSERT_EQ(l1.size() + l2.size(), 2u);
  std::map<int, v1::Launch> by_rank;
  for (auto& l : l1) by_rank[l.task_index()] = l;
  for (auto& l : l2) by_rank[l.task_index()] = l;
  ASSERT_EQ(by_rank.size(), 2u);
  EXPECT_EQ(by_rank[0].env().at("RANK"), "0");
  EXPECT_EQ(by_rank[1].env().at("RANK"), "1");
  EXPECT_EQ(by_rank[1].env().at("WORLD_SIZE"), "2");
  EXPECT_EQ(by_rank[1].env().at("LOCAL_RANK"), "0");
  EXPECT_EQ(by_rank[1].env().at("GROUP_RANK"), "1");
  EXPECT_EQ(by_rank[0].env().at("MASTER_ADDR"), by_rank[1].env().at("MASTER_ADDR"));
  EXPECT_EQ(by_rank[0].env().at("MASTER_PORT"), by_rank[1].env().at("MASTER_PORT"));
  std::string rank1_node = l1.size() == 1 && l1[0].task_index() == 1 ? "n1" : "n2";
  std::string rank0_node = rank1_node == "n1" ? "n2" : "n1";
  auto* ch1 = rank1_node == "n1" ? n1.get() : n2.get();
  auto* ch0 = rank0_node == "n1" ? n1.get() : n2.get();
  c->OnAgentMessage(rank0_node, ch0, Event(*id, 0, 1, "running"));
  c->OnAgentMessage(rank1_node, ch1, Event(*id, 1, 1, "running"));
  c->OnAgentMessage(rank1_node, ch1, Event(*id, 1, 1, "failed", 1));
  auto kills = static_cast<FakeChannel*>(ch0)->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].task_index(), 0);
  c->Tick();  // rank 0 still holds its GPU: nothing relaunches yet
  EXPECT_EQ(n1->Launches().size() + n2->Launches().size(), 2u);
  c->OnAgentMessage(rank0_node, ch0, Event(*id, 0, 1, "failed", -15));
  EXPECT_EQ(TaskState(*c, *id, 0), "pending");
  EXPECT_EQ(TaskState(*c, *id, 1), "pending");
  c->Tick();
  auto all = n1->Launches();
  for (auto& l : n2->Launches()) all.push_back(l);
  ASSERT_EQ(all.size(), 4u);
  int second = 0;
  for (auto& l : all) second += l.attempt() == 2 ? 1 : 0;
  EXPECT_EQ(second, 2);
}

TEST_F(CoordinatorTest, FairShareFavoursTheUserHoldingLess) {
  auto c = OpenCoordinator("fairshare");
  auto ch = Connect(*c, "n1", 2);
  auto spec_of = [](const std::string& user) {
    JobSpec s = MakeSpec(1);
    s.user = user;
    return s;
  };
  auto held = c->Submit(spec_of("ann"));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*held, 0, 1, "running"));
  auto ann = c->Submit(spec_of("ann"));  // earlier, but ann already holds half the GPUs
  auto bob = c->Submit(spec_of("bob"));
  c->Tick();
  EXPECT_EQ(TaskState(*c, *bob), "launching");
  EXPECT_EQ(TaskState(*c, *ann), "pending");
}

TEST_F(CoordinatorTest, FairShareRemembersPastUsageDecayedAndAcrossARestart) {
  auto spec_of = [](const std::string& user) {
    JobSpec s = MakeSpec(1);
    s.user = user;
    return s;
  };
  {
    auto c = OpenCoordinator("fairshare");
    auto ch = Connect(*c, "n1", 1);
    // ann used the node's only GPU for two hours.
    auto past = c->Submit(spec_of("ann"));
    c->Tick();
    c->OnAgentMessage("n1", ch.get(), Event(*past, 0, 1, "running"));
    clock_.Advance(2 * 3600 * 1000);
    c->OnAgentMessage("n1", ch.get(), Event(*past, 0, 1, "succeeded"));
    auto shares = c->UserShares();
    ASSERT_TRUE(shares.contains("ann"));
    // Two hours of the whole cluster, over a half-life of 7 days (in seconds).
    EXPECT_NEAR(shares["ann"], 7200.0 / (7 * 86400), 1e-6);
    EXPECT_FALSE(shares.contains("bob"));
  }
  // After a restart (from the accounting rows) and a day, ann's earlier job still waits behind
  // bob's later one; a day decays the usage by 2^(-1/7).
  clock_.Advance(86400 * 1000);
  auto c = OpenCoordinator("fairshare");
  auto ch = Connect(*c, "n1", 1);
  auto shares = c->UserShares();
  ASSERT_TRUE(shares.contains("ann"));
  EXPECT_NEAR(shares["ann"], 7200.0 / (7 * 86400) * std::exp2(-1.0 / 7), 1e-6);
  auto ann = c->Submit(spec_of("ann"));
  auto bob = c->Submit(spec_of("bob"));
  c->Tick();
  EXPECT_EQ(TaskState(*c, *bob), "launching");
  EXPECT_EQ(TaskState(*c, *ann), "pending");
  // The queue shows each user's share.
  JobQuery req;
  EXPECT_EQ(c->ListJobs(req).fairshare_half_life_ms, 7LL * 86400 * 1000);
}

TEST_F(CoordinatorTest, AJobBeyondItsUsersLimitWaitsWithTheReasonAndStartsWhenThereIsRoom) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 4);
  JobSpec spec = MakeSpec(1, /*tasks=*/3);
  spec.user = "bob";
  ASSERT_TRUE(c->SetLimit({.kind = "user", .name = "bob", .max_gpus = 2}).ok());
  auto id = c->Submit(spec);
  c->Tick();
  EXPECT_EQ(ch->Launches().size(), 2u);  // 2 of 3: the third would pass the limit
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  c->OnAgentMessage("n1", ch.get(), Event(*id, 1, 1, "running"));
  JobSpec other = MakeSpec(1);
  other.user = "bob";
  auto more = c->Submit(other);
  c->Tick();
  EXPECT_EQ(ch->Launches().size(), 2u);
  EXPECT_EQ(c->GetJob(*more)->reason, "user limit: 2 of 2 GPUs in use");
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "succeeded"));
  c->Tick();
  EXPECT_EQ(ch->Launches().size(), 3u);  // room for one more
  // Bad limits change nothing.
  EXPECT_FALSE(c->SetLimit({.kind = "team", .name = "x", .max_gpus = 1}).ok());
  EXPECT_FALSE(c->SetLimit({.kind = "user", .name = "bob", .max_gpus = -1}).ok());
  EXPECT_FALSE(c->SetLimit({.kind = "user", .name = "bob"}).ok());
  ASSERT_EQ(c->Limits().size(), 1u);
  EXPECT_EQ(c->Limits()[0].max_gpus, 2);
  EXPECT_TRUE(c->ClearLimit("user", "bob").ok());
  EXPECT_EQ(c->ClearLimit("user", "bob").code(), StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, AHighPriorityJobThatWaitsPreemptsCheckpointableLowerWorkWhichResumes) {
  CoordinatorOptions o;
  o.scheduler.queue_policy = "priority";
  o.state_dir = dir_;
  o.preemption = "priority";
  o.preempt_after_ms = 5000;
  auto opened = Coordinator::Open(o, &clock_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto c = std::move(opened).value();
  auto ch = Connect(*c, "n1", 1);
  JobSpec low = MakeSpec(1);
  low.checkpointable = true;
  low.est_time_s = 3600;  // not done soon: nothing frees the GPU in time
  auto victim = c->Submit(low);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*victim, 0, 1, "running"));
  JobSpec high = MakeSpec(1);
  high.priority = 10;
  auto urgent = c->Submit(high);
  c->Tick();
  EXPECT_TRUE(ch->Kills().empty());  // it has not waited long enough yet
  clock_.Advance(6000);
  c->Tick();
  auto kills = ch->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].job_id(), *victim);
  EXPECT_EQ(kills[0].reason(), "preempt");
  // The victim saves and leaves: requeued, no retry used; the preemptor starts in its place.
  v1::AgentMessage saved = Event(*victim, 0, 1, "succeeded");
  saved.mutable_event()->set_stopped_on_request(true);
  c->OnAgentMessage("n1", ch.get(), saved);
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].job_id(), *urgent);
  auto v = c->GetJob(*victim);
  EXPECT_EQ(v->state, JobState::kPending);
  EXPECT_EQ(v->tasks[0].retries, 0);
  bool told = false;
  for (const auto& h : v->history) told = told || h.find("preempted by job") != std::string::npos;
  EXPECT_TRUE(told);
  c->OnAgentMessage("n1", ch.get(), Event(*urgent, 0, 1, "running"));
  clock_.Advance(1000);
  c->OnAgentMessage("n1", ch.get(), Event(*urgent, 0, 1, "succeeded"));
  c->Tick();
  launches = ch->Launches();
  ASSERT_EQ(launches.size(), 3u);  // the victim resumes
  EXPECT_EQ(launches[2].job_id(), *victim);
  EXPECT_EQ(launches[2].attempt(), 2);
  // Equal priority never preempts.
  JobSpec same = MakeSpec(1);
  auto peer = c->Submit(same);
  c->OnAgentMessage("n1", ch.get(), Event(*victim, 0, 2, "running"));
  clock_.Advance(60000);
  c->Tick();
  EXPECT_EQ(ch->Kills().size(), 1u);
  EXPECT_EQ(c->GetJob(*peer)->state, JobState::kPending);
}

TEST_F(CoordinatorTest, ThePredictionAtSubmitIsKeptAndLaterMovesAreWrittenToTheHistory) {
  {
    auto c = OpenCoordinator();
    auto ch = Connect(*c, "n1", 1);
    JobSpec first = MakeSpec(1);
    first.est_time_s = 600;
    auto blocker = c->Submit(first);
    c->Tick();
    c->OnAgentMessage("n1", ch.get(), Event(*blocker, 0, 1, "running"));
    JobSpec second = MakeSpec(1);
    second.est_time_s = 300;
    auto waiting = c->Submit(second);
    c->Tick();
    auto w = c->GetJob(*waiting);
    ASSERT_TRUE(w.ok());
    EXPECT_GT(w->submit_prediction.made_ms, 0);
    // It waits for the blocker's predicted finish, 10 minutes on; then runs 5.
    EXPECT_NEAR(w->submit_prediction.start_ms - w->submit_ms, 600000, 2000);
    EXPECT_NEAR(w->submit_prediction.finish_ms - w->submit_prediction.start_ms, 300000, 2000);
    ASSERT_FALSE(w->history.empty());
    EXPECT_EQ(w->history[0].rfind("predicted at submit: start in 10m", 0), 0u) << w->history[0];
    c->Tick();
    w = c->GetJob(*waiting);
    int lines = 0;
    for (const auto& h : w->history) lines += h.rfind("predicted at submit", 0) == 0;
    EXPECT_EQ(lines, 1) << "the prediction at submit is written once";
    EXPECT_EQ(w->reason.find("predicted at submit"), std::string::npos)
        << "a prediction line is no reason: " << w->reason;
    // The blocker ends 9 minutes early: the waiting job is re-predicted, once.
    clock_.Advance(60000);
    c->OnAgentMessage("n1", ch.get(), Event(*blocker, 0, 1, "succeeded"));
    clock_.Advance(1000);
    c->Tick();
    w = c->GetJob(*waiting);
    int repredicted = 0;
    for (const auto& h : w->history) repredicted += h.rfind("re-predicted at ", 0) == 0;
    EXPECT_EQ(repredicted, 1);
    clock_.Advance(2000);
    c->Tick();
    w = c->GetJob(*waiting);
    int again = 0;
    for (const auto& h : w->history) again += h.rfind("re-predicted at ", 0) == 0;
    EXPECT_EQ(again, 1) << "a prediction that did not move is not written again";
  }
  // The prediction made at submit survives a restart.
  auto c = OpenCoordinator();
  auto w = c->GetJob(2);
  ASSERT_TRUE(w.ok());
  EXPECT_GT(w->submit_prediction.made_ms, 0);
  EXPECT_NEAR(w->submit_prediction.start_ms - w->submit_ms, 600000, 2000);
  auto table = c->GetSchedule(/*include_finished=*/true);
  bool seen = false;
  for (const auto& row : table.rows)
    if (row.job_id == 2) seen = row.submit_predicted_start_ms == w->submit_prediction.start_ms;
  EXPECT_TRUE(seen);
}

TEST_F(CoordinatorTest, PredictionsLearnFromFinishedRunsOfTheClass) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 1);
  JobSpec spec = MakeSpec(1);
  spec.job_class = "train";
  auto a = c->Submit(spec);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "running"));
  auto first = c->GetSchedule(/*include_finished=*/false);
  ASSERT_EQ(first.rows.size(), 1);
  EXPECT_EQ(first.rows[0].predicted_finish_ms - first.rows[0].actual_start_ms, 60000);
  clock_.Advance(100000);
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "succeeded"));
  auto b = c->Submit(spec);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*b, 0, 1, "running"));
  auto second = c->GetSchedule(/*include_finished=*/false);
  ASSERT_EQ(second.rows.size(), 1);
  EXPECT_EQ(second.rows[0].predicted_finish_ms - second.rows[0].actual_start_ms, 100000);
}

TEST_F(CoordinatorTest, ScheduleAndNodeViews) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 2);
  auto a = c->Submit(MakeSpec(2));
  auto b = c->Submit(MakeSpec(1));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "running"));
  auto table = c->GetSchedule(/*include_finished=*/false);
  ASSERT_EQ(table.rows.size(), 2);
  EXPECT_EQ(table.rows[0].state, TaskState::kRunning);
  EXPECT_GT(table.rows[0].predicted_finish_ms, table.rows[0].actual_start_ms);
  EXPECT_EQ(table.rows[1].state, TaskState::kPending);
  // Job b waits for a's GPUs: predicted to start when a is predicted to finish.
  EXPECT_GE(table.rows[1].predicted_start_ms, table.rows[0].predicted_finish_ms);
  EXPECT_GT(table.rows[1].predicted_finish_ms, table.rows[1].predicted_start_ms);
  std::string why = c->GetJob(*b)->reason;  // the scheduler's words for "not now"
  EXPECT_FALSE(why.empty());
  EXPECT_NE(why, "waiting for nodes");
  auto nodes = c->ListNodes();
  ASSERT_EQ(nodes.nodes.size(), 1);
  EXPECT_EQ(nodes.nodes[0].running_tasks, 1);
  EXPECT_DOUBLE_EQ(nodes.nodes[0].load, 1.0);
  JobQuery lr;
  EXPECT_EQ(c->ListJobs(lr).jobs.size(), 2);
  lr.limit = 1;
  EXPECT_EQ(c->ListJobs(lr).jobs[0].id, *b);
}

TEST_F(CoordinatorTest, ANodeOfOneUserRunsOnlyThatUsersTasks) {
  auto c = OpenCoordinator();
  auto shared = Connect(*c, "shared", 1);
  v1::Register own = MakeRegister("alicebox", 2);
  own.set_only_user("alice");  // its agent is not root
  auto alicebox = Connect(*c, "alicebox", 2, own);
  JobSpec bobs = MakeSpec(1, 2);
  bobs.user = "bob";
  auto b = c->Submit(bobs);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  c->Tick();
  ASSERT_EQ(shared->Launches().size(), 1u);
  EXPECT_TRUE(alicebox->Launches().empty());  // two GPUs free there, but not bob's
  // Without the shared node, nothing can take bob's second task, and its reason says why.
  c->OnAgentDisconnected("shared", shared.get());
  clock_.Advance(60000);
  c->Tick();
  EXPECT_TRUE(alicebox->Launches().empty());
  EXPECT_NE(c->GetJob(*b)->reason.find("no node runs bob's tasks"), std::string::npos)
      << c->GetJob(*b)->reason;
  // alice's job goes to her node.
  JobSpec alices = MakeSpec(1, 2);
  alices.user = "alice";
  auto a = c->Submit(alices);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  c->Tick();
  EXPECT_EQ(alicebox->Launches().size(), 2u);
  // bob may still submit: the lost shared node may come back. A cluster that never had a node
  // for him refuses at once.
  EXPECT_TRUE(c->Submit(bobs).ok());
  auto fresh = OpenCoordinatorIn(dir_ + "/fresh");
  Connect(*fresh, "alicebox", 2, own);
  EXPECT_EQ(fresh->Submit(bobs).status().code(), StatusCode::kInfeasible);
}

TEST_F(CoordinatorTest, FinishedJobsAreRemovedAfterTheirRetentionUnlessSomethingWaitsOnThem) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 2);
  auto a = c->Submit(MakeSpec(1));
  auto gone = c->Submit(MakeSpec(1));
  ASSERT_TRUE(a.ok() && gone.ok());
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "running"));
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "succeeded"));
  std::vector<JobId> cancel;
  cancel.push_back(*gone);
  ASSERT_TRUE(c->Cancel(cancel, {})[0].ok);
  c->OnAgentMessage("n1", ch.get(), Event(*gone, 0, 1, "failed", -15));  // killed
  c->Tick();
  // b depends on a and needs more GPUs than are free: it stays pending, so a must stay.
  JobSpec b_spec = MakeSpec(2);
  b_spec.after.push_back(*a);
  auto b = c->Submit(b_spec);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  std::filesystem::create_directories(dir_ + "/logs/" + std::to_string(*gone));
  std::ofstream(dir_ + "/logs/" + std::to_string(*gone) + "/0.out") << "old output\n";
  clock_.Advance(15LL * 86400 * 1000);
  const DurationMs retention = 14LL * 86400 * 1000;

  auto dry = c->CollectGarbage(retention, /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->jobs, 1);
  EXPECT_EQ(dry->kept_for_dependents, 1);
  EXPECT_EQ(dry->bytes, 11);
  EXPECT_TRUE(c->GetJob(*gone).ok());  // a dry run removes nothing

  auto gc = c->CollectGarbage(retention, /*dry_run=*/false);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->jobs, 1);
  EXPECT_EQ(gc->tasks, 1);
  EXPECT_EQ(c->GetJob(*gone).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(c->GetJob(*a).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/logs/" + std::to_string(*gone)));
  // Ids are not reused, and a restart does not bring the job back.
  auto next = c->Submit(MakeSpec(1));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, *b);
  c.reset();
  auto again = OpenCoordinator();
  EXPECT_EQ(again->GetJob(*gone).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(again->GetJob(*a).ok());
  EXPECT_TRUE(again->GetJob(*b).ok());
}

}  // namespace
}  // namespace muster::cluster::testing

namespace muster::cluster::testing {
namespace {

v1::AgentMessage GpuHeartbeat(double util0, double power0, double util1, double power1) {
  v1::AgentMessage hb;
  auto* u = hb.mutable_heartbeat()->mutable_usage();
  auto* g0 = u->add_gpus();
  g0->set_utilization(util0);
  g0->set_power_w(power0);
  auto* g1 = u->add_gpus();
  g1->set_utilization(util1);
  g1->set_power_w(power1);
  return hb;
}

TEST_F(CoordinatorTest, AccountingMetersEachAttemptsGpusAndKeepsARowPerAttempt) {
  auto c = OpenCoordinator();
  auto ch = Connect(*c, "n1", 2);
  auto id = c->Submit(MakeSpec(/*gpus=*/1, /*tasks=*/1, /*gang=*/false, /*max_retries=*/1));
  ASSERT_TRUE(id.ok());
  c->Tick();
  ASSERT_EQ(ch->Launches().size(), 1u);
  const int gpu = ch->Launches()[0].gpus(0);
  // GPU 0 at 50% and 100 W, GPU 1 at 100% and 300 W; the other GPU's readings are not the task's.
  const double util = gpu == 0 ? 0.5 : 1.0, watts = gpu == 0 ? 100 : 300;
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 1, "running"));
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(1000);
    c->OnAgentMessage("n1", ch.get(), GpuHeartbeat(0.5, 100, 1.0, 300));
  }
  {  // Running: measured so far, no end yet.
    auto rows = c->Accounting(0, "", 0);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].state, "running");
    EXPECT_EQ((*rows)[0].end_ms, 0);
    EXPECT_NEAR((*rows)[0].energy_wh, watts * 10 / 3600.0, 1e-9);
  }
  v1::AgentMessage failed = Event(*id, 0, 1, "failed", 1);
  failed.mutable_event()->set_peak_memory_bytes(300 << 20);
  failed.mutable_event()->set_cpu_seconds(4.5);
  c->OnAgentMessage("n1", ch.get(), failed);  // retried: a second attempt
  c->Tick();
  ASSERT_EQ(ch->Launches().size(), 2u);
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 2, "running"));
  // A silent stretch of a minute is billed as three heartbeat intervals at most.
  clock_.Advance(60000);
  c->OnAgentMessage("n1", ch.get(), GpuHeartbeat(0.5, 100, 1.0, 300));
  c->OnAgentMessage("n1", ch.get(), Event(*id, 0, 2, "succeeded"));
  auto rows = c->Accounting(0, "", 0);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  const AccountingRow& first = (*rows)[0];
  EXPECT_EQ(first.attempt, 1);
  EXPECT_EQ(first.state, "requeued");
  EXPECT_EQ(first.exit_code, 1);
  EXPECT_EQ(first.gpus, 1);
  EXPECT_EQ(first.node, "n1");
  EXPECT_EQ(first.end_ms - first.start_ms, 10000);
  EXPECT_EQ(first.peak_memory_mib, 300);
  EXPECT_DOUBLE_EQ(first.cpu_seconds, 4.5);
  EXPECT_NEAR(first.gpu_util, util, 1e-9);
  EXPECT_NEAR(first.energy_wh, watts * 10 / 3600.0, 1e-9);
  const AccountingRow& second = (*rows)[1];
  EXPECT_EQ(second.attempt, 2);
  EXPECT_EQ(second.state, "succeeded");
  EXPECT_NEAR(second.energy_wh, watts * 3 / 3600.0, 1e-9);  // 3 intervals of 1 s, not 60 s
  EXPECT_LT(second.cpu_seconds, 0);  // the agent measured nothing this time
  EXPECT_EQ(c->Accounting(0, "nobody", 0)->size(), 0u);
  EXPECT_EQ(c->Accounting(0, "", *id + 1)->size(), 0u);
}

}  // namespace
}  // namespace muster::cluster::testing
