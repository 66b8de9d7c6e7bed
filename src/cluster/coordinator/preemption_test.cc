// Preemption in the daemon: the srtf and las orders (as `muster sim` replays them), victims that
// are cancelled as their job says, and the attained service kept across a restart.
#include <algorithm>

#include "cluster/coordinator/coordinator_test_util.h"

namespace muster::cluster::testing {
namespace {

class PreemptionTest : public CoordinatorTest {
 protected:
  CoordinatorPtr Open(const std::string& policy, const std::string& preemption,
                      std::vector<double> las_thresholds = {3600, 36000}) {
    CoordinatorOptions o;
    o.scheduler.queue_policy = policy;
    o.state_dir = dir_;
    o.preemption = preemption;
    o.preempt_after_ms = 5000;
    o.las_thresholds_gpu_s = std::move(las_thresholds);
    auto c = Coordinator::Open(o, &clock_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return CoordinatorPtr(c.ok() ? std::move(c).value().release() : nullptr);
  }
  static JobSpec Spec(double est_time_s, bool checkpointable = true) {
    JobSpec s = MakeSpec(1);
    s.est_time_s = est_time_s;
    s.checkpointable = checkpointable;
    return s;
  }
  // The victim saves and leaves on SIGTERM.
  static v1::AgentMessage Saved(JobId job, Attempt attempt) {
    v1::AgentMessage m = Event(job, 0, attempt, "succeeded");
    m.mutable_event()->set_stopped_on_request(true);
    return m;
  }
  static bool HistorySays(const JobView& j, const std::string& text) {
    return std::any_of(j.history.begin(), j.history.end(),
                       [&](const std::string& h) { return h.find(text) != std::string::npos; });
  }
};

TEST_F(PreemptionTest, OptionsNeedTheirQueuePolicyAndSaneThresholds) {
  CoordinatorOptions o;
  o.state_dir = dir_;
  for (auto [policy, preemption] : {std::pair{"fifo", "srtf"}, {"sjf", "las"}, {"fifo", "priority"},
                                    {"sjf", "sometimes"}}) {
    o.scheduler.queue_policy = policy;
    o.preemption = preemption;
    EXPECT_EQ(Coordinator::Open(o, &clock_).status().code(), StatusCode::kInvalidArgument)
        << policy << " " << preemption;
  }
  o.scheduler.queue_policy = "las";
  o.preemption = "las";
  o.las_thresholds_gpu_s = {100, 50};
  EXPECT_EQ(CheckPreemptionOptions(o).code(), StatusCode::kInvalidArgument);
  o.las_thresholds_gpu_s = {50, 100};
  EXPECT_TRUE(CheckPreemptionOptions(o).ok());
  o.scheduler.queue_policy = "sjf";
  o.preemption = "srtf";
  EXPECT_TRUE(CheckPreemptionOptions(o).ok());
}

TEST_F(PreemptionTest, SrtfStopsTheTaskWithMoreTimeLeftForAShortJobWhichThenRunsFirst) {
  auto c = Open("sjf", "srtf");
  auto ch = Connect(*c, "n1", 1);
  auto longer = c->Submit(Spec(3600));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*longer, 0, 1, "running"));
  // A job of about as much work left is no reason to stop it.
  JobSpec peer_spec = Spec(3600);
  peer_spec.time_limit_ms = 2 * 3600 * 1000;
  auto peer = c->Submit(peer_spec);
  clock_.Advance(6000);
  c->Tick();
  EXPECT_TRUE(ch->Kills().empty());
  // Without a time limit a job's own claim to be short does not preempt.
  auto unlimited = c->Submit(Spec(60));
  clock_.Advance(6000);
  c->Tick();
  EXPECT_TRUE(ch->Kills().empty());
  ASSERT_TRUE(c->Cancel({*unlimited}, {})[0].ok);
  JobSpec short_spec = Spec(60);
  short_spec.time_limit_ms = 120000;
  auto shorter = c->Submit(short_spec);
  c->Tick();
  EXPECT_TRUE(ch->Kills().empty());  // it has not waited preempt_after yet
  clock_.Advance(6000);
  c->Tick();
  auto kills = ch->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].job_id(), *longer);
  EXPECT_EQ(kills[0].reason(), "preempt");
  c->OnAgentMessage("n1", ch.get(), Saved(*longer, 1));
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].job_id(), *shorter);
  auto v = c->GetJob(*longer);
  EXPECT_EQ(v->state, JobState::kPending);
  EXPECT_EQ(v->tasks[0].retries, 0);
  EXPECT_TRUE(HistorySays(*v, "preempted by job " + std::to_string(*shorter) + " (srtf order)"));
  // The short job runs; then the victim, which has 12 s less to do than its peer, goes first.
  c->OnAgentMessage("n1", ch.get(), Event(*shorter, 0, launches[1].attempt(), "running"));
  clock_.Advance(60000);
  c->OnAgentMessage("n1", ch.get(), Event(*shorter, 0, launches[1].attempt(), "succeeded"));
  c->Tick();
  launches = ch->Launches();
  ASSERT_EQ(launches.size(), 3u);
  EXPECT_EQ(launches[2].job_id(), *longer);
  EXPECT_EQ(c->GetJob(*peer)->state, JobState::kPending);
  // Running the victim again does not make its peer (more left) preempt it.
  c->OnAgentMessage("n1", ch.get(), Event(*longer, 0, launches[2].attempt(), "running"));
  clock_.Advance(60000);
  c->Tick();
  EXPECT_EQ(ch->Kills().size(), 1u);
}

TEST_F(PreemptionTest, LasStopsAJobThatCrossedAThresholdForANewJobOfTheFirstLevel) {
  auto c = Open("las", "las", {10});  // level 1 after 10 GPU-seconds
  auto ch = Connect(*c, "n1", 1);
  auto first = c->Submit(Spec(3600));
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*first, 0, 1, "running"));
  clock_.Advance(4000);
  auto second = c->Submit(Spec(3600));  // level 0, as the running job still is
  clock_.Advance(5000);
  c->Tick();
  EXPECT_TRUE(ch->Kills().empty());  // same level, submitted later: FIFO within a level
  clock_.Advance(2000);              // 11 GPU-seconds: the running job drops to level 1
  c->Tick();
  auto kills = ch->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].job_id(), *first);
  EXPECT_EQ(kills[0].reason(), "preempt");
  c->OnAgentMessage("n1", ch.get(), Saved(*first, 1));
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].job_id(), *second);
  EXPECT_TRUE(HistorySays(*c->GetJob(*first), "(las order)"));
}

TEST_F(PreemptionTest, LasKeepsTheServiceOfEndedAttemptsAcrossARestart) {
  {
    auto c = Open("las", "las", {10});
    auto ch = Connect(*c, "n1", 1);
    auto first = c->Submit(Spec(3600));
    c->Tick();
    c->OnAgentMessage("n1", ch.get(), Event(*first, 0, 1, "running"));
    clock_.Advance(20000);  // 20 GPU-seconds: level 1
    auto second = c->Submit(Spec(3600));
    clock_.Advance(6000);
    c->Tick();
    ASSERT_EQ(ch->Kills().size(), 1u);
    c->OnAgentMessage("n1", ch.get(), Saved(*first, 1));
    c->Tick();
    auto launches = ch->Launches();
    ASSERT_EQ(launches.size(), 2u);
    c->OnAgentMessage("n1", ch.get(), Event(*second, 0, launches[1].attempt(), "running"));
    clock_.Advance(1000);
    c->OnAgentMessage("n1", ch.get(), Event(*second, 0, launches[1].attempt(), "succeeded"));
  }
  // Reopened with nothing running: the first job (level 1) waits behind a new one of level 0,
  // although it was submitted long before.
  auto c = Open("las", "las", {10});
  auto third = c->Submit(Spec(3600));
  auto ch = Connect(*c, "n1", 1);
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].job_id(), *third);
}

TEST_F(PreemptionTest, AVictimWhoseJobSaysCancelIsCancelledNotRequeued) {
  auto c = Open("priority", "priority");
  auto ch = Connect(*c, "n1", 1);
  JobSpec low = Spec(3600, /*checkpointable=*/false);
  low.cancel_on_preempt = true;
  auto victim = c->Submit(low);
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*victim, 0, 1, "running"));
  JobSpec high = Spec(60, false);
  high.priority = 10;
  auto urgent = c->Submit(high);
  clock_.Advance(6000);
  c->Tick();
  auto kills = ch->Kills();
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].reason(), "preempt");
  c->OnAgentMessage("n1", ch.get(), Event(*victim, 0, 1, "failed", 143));
  c->Tick();
  auto v = c->GetJob(*victim);
  EXPECT_EQ(v->state, JobState::kCancelled);
  EXPECT_EQ(v->tasks[0].state, TaskState::kCancelled);
  EXPECT_EQ(v->reason.rfind("task 0 was cancelled: preempted by job " + std::to_string(*urgent), 0),
            0u)
      << v->reason;
  EXPECT_TRUE(HistorySays(*v, "cancelled: preempted by job " + std::to_string(*urgent)));
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[1].job_id(), *urgent);
}

}  // namespace
}  // namespace muster::cluster::testing
