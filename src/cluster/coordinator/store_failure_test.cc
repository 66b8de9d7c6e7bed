// The coordinator when its state store fails: over a MemoryStore with injected failures, each
// store-failure branch is reached and checked against what a restarted coordinator would load.
#include <gtest/gtest.h>

#include "cluster/coordinator/coordinator_test_util.h"
#include "cluster/store/memory_store.h"

namespace muster::cluster::testing {
namespace {

class StoreFailureTest : public CoordinatorTest {
 protected:
  // Opens a coordinator over a MemoryStore it does not own; store_ stays valid while it lives.
  CoordinatorPtr OpenOnMemory(StoreContents contents = {}) {
    auto store = std::make_unique<MemoryStore>(std::move(contents));
    store_ = store.get();
    CoordinatorOptions o;
    o.state_dir = dir_;
    auto c = Coordinator::Open(o, &clock_, std::move(store));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return CoordinatorPtr(c.ok() ? std::move(c).value().release() : nullptr);
  }
  const JobRecord* Stored(JobId id) {
    contents_ = store_->Contents();
    for (const auto& j : contents_.jobs)
      if (j.id == id) return &j;
    return nullptr;
  }
  MemoryStore* store_ = nullptr;
  StoreContents contents_;
};

TEST_F(StoreFailureTest, ALoadFailureRefusesToStart) {
  auto store = std::make_unique<MemoryStore>();
  store->FailLoads(Status::Internal("store: database disk image is malformed"));
  CoordinatorOptions o;
  o.state_dir = dir_;
  auto c = Coordinator::Open(o, &clock_, std::move(store));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "store: database disk image is malformed");
}

TEST_F(StoreFailureTest, ASubmitThatIsNotStoredIsRefusedAndLeavesNoJob) {
  auto c = OpenOnMemory();
  store_->FailWrites(Status::Unavailable("disk full"), StoreWrite::kInsertJob);
  auto r = c->Submit(MakeSpec());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "the state store failed: disk full");
  EXPECT_EQ(c->ListJobs({}).jobs.size(), 0);  // nothing the client was not told about
  EXPECT_TRUE(store_->Contents().jobs.empty());

  store_->Heal();
  auto ok = c->Submit(MakeSpec());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(c->ListJobs({}).jobs.size(), 1);
  ASSERT_NE(Stored(*ok), nullptr);
}

TEST_F(StoreFailureTest, ALaunchThatIsNotStoredIsNeverSentAndRetriedLater) {
  auto c = OpenOnMemory();
  auto ch = Connect(*c, "n1", 1);
  auto id = c->Submit(MakeSpec(1));
  ASSERT_TRUE(id.ok());
  store_->FailWrites(Status::Unavailable("disk full"), StoreWrite::kUpdateTask);
  c->Tick();
  EXPECT_TRUE(ch->Launches().empty());  // an attempt the store does not know never starts
  EXPECT_EQ(TaskState(*c, *id), "pending");
  EXPECT_GT(store_->failed_writes(), 0);

  store_->Heal();
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(TaskState(*c, *id), "launching");
  const JobRecord* j = Stored(*id);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->tasks[0].state, TaskState::kLaunching);
  EXPECT_EQ(j->tasks[0].attempt, launches[0].attempt());  // stored before it was sent
}

// Writes fail one by one: a launch whose own write failed is not sent, while the others of the
// same pass are.
TEST_F(StoreFailureTest, OnlyLaunchesWhoseOwnWriteWasStoredAreSent) {
  auto c = OpenOnMemory();
  auto ch = Connect(*c, "n1", 4);
  auto tasks = c->Submit(MakeSpec(1, 2, /*gang=*/false));
  ASSERT_TRUE(tasks.ok());
  // The first task's new attempt is the pass's first task write.
  store_->FailNextWrites(1, Status::Unavailable("disk full"), StoreWrite::kUpdateTask);
  c->Tick();
  auto launches = ch->Launches();
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].task_index(), 1);
  EXPECT_EQ(TaskState(*c, *tasks, 0), "pending");
  EXPECT_EQ(TaskState(*c, *tasks, 1), "launching");
}

// A gang one of whose ranks was not stored starts no rank at all.
TEST_F(StoreFailureTest, AGangWithARankNotStoredDoesNotStart) {
  auto c = OpenOnMemory();
  auto ch = Connect(*c, "n1", 4);
  auto gang = c->Submit(MakeSpec(1, 2, /*gang=*/true));
  ASSERT_TRUE(gang.ok());
  store_->FailNextWrites(1, Status::Unavailable("disk full"), StoreWrite::kUpdateTask);
  c->Tick();
  EXPECT_TRUE(ch->Launches().empty());
  EXPECT_EQ(TaskState(*c, *gang, 0), "pending");
  EXPECT_EQ(TaskState(*c, *gang, 1), "pending");
  c->Tick();  // the store works again: the whole gang starts
  EXPECT_EQ(ch->Launches().size(), 2u);
}

TEST_F(StoreFailureTest, ACancelThatIsNotStoredIsReportedAsSuch) {
  auto c = OpenOnMemory();
  auto id = c->Submit(MakeSpec());
  ASSERT_TRUE(id.ok());
  store_->FailWrites(Status::Unavailable("disk full"));
  std::vector<JobId> req;
  req.push_back(*id);
  std::vector<ChangeResult> reply = c->Cancel(req, {});
  ASSERT_EQ(reply.size(), 1);
  EXPECT_FALSE(reply[0].ok);
  EXPECT_EQ(reply[0].error,
            "job " + std::to_string(*id) +
                " is stopping, but the state store failed to record the cancel (disk full); a "
                "coordinator restart before the store recovers would run it again");
  // Cancelling again cannot store it either: the job is cancelled in memory already.
  EXPECT_FALSE(c->Cancel(req, {})[0].ok);
  // A restart would see the job still pending: that is what the reply said.
  ASSERT_NE(Stored(*id), nullptr);
  EXPECT_EQ(Stored(*id)->state, JobState::kPending);

  store_->Heal();
  auto again = c->Submit(MakeSpec());
  ASSERT_TRUE(again.ok());
  std::vector<JobId> req2;
  req2.push_back(*again);
  reply = c->Cancel(req2, {});
  ASSERT_EQ(reply.size(), 1);
  EXPECT_TRUE(reply[0].ok) << reply[0].error;
  EXPECT_EQ(Stored(*again)->state, JobState::kCancelled);
}

TEST_F(StoreFailureTest, ARestartLoadsExactlyWhatWasStored) {
  JobId id;
  StoreContents saved;
  {
    auto c = OpenOnMemory();
    auto ch = Connect(*c, "n1", 1);
    auto r = c->Submit(MakeSpec(1));
    ASSERT_TRUE(r.ok());
    id = *r;
    c->Tick();
    ASSERT_EQ(ch->Launches().size(), 1u);
    c->OnAgentMessage("n1", ch.get(), Event(id, 0, 1, "running"));
    saved = store_->Contents();
  }
  auto c = OpenOnMemory(std::move(saved));
  auto info = c->GetJob(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kRunning);
  EXPECT_EQ(info->tasks[0].attempt, 1);
  auto next = c->Submit(MakeSpec());
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, id);  // ids are never reused
}

// A store that cannot write at all (a full disk): the coordinator turns read-only, refuses
// changes with one line, keeps serving reads and taking agents' reports, and once writes succeed
// again writes what it could not store meanwhile.
TEST_F(StoreFailureTest, AStoreThatCannotWriteMakesItReadOnlyUntilWritesSucceedAgain) {
  auto c = OpenOnMemory();
  auto ch = Connect(*c, "n1", 2);
  auto a = c->Submit(MakeSpec(1));
  auto b = c->Submit(MakeSpec(2));  // waits for a's GPU
  ASSERT_TRUE(a.ok() && b.ok());
  c->Tick();
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "running"));
  ASSERT_TRUE(c->Writable().ok());

  store_->FailWrites(Status::Unavailable("disk full"));
  c->OnAgentMessage("n1", ch.get(), Event(*a, 0, 1, "succeeded"));  // taken, not stored
  EXPECT_EQ(c->GetJob(*a)->state, JobState::kSucceeded);
  EXPECT_EQ(Stored(*a)->state, JobState::kRunning);
  c->Tick();
  const Status ro = c->Writable();
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.message(),
            "the coordinator is read-only: its state store cannot write (disk full); it serves "
            "reads, and takes changes again by itself once writes succeed");
  // Changes are refused with that line, and nothing is half made.
  auto refused = c->Submit(MakeSpec(1));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message(), ro.message());
  std::vector<JobId> cancel;
  cancel.push_back(*b);
  auto reply = c->Cancel(cancel, {});
  EXPECT_EQ(reply[0].error, ro.message());
  EXPECT_EQ(c->GetJob(*b)->state, JobState::kPending);
  EXPECT_FALSE(c->CollectGarbage(0, false).ok());
  // Nothing starts (b could now: a's GPU is free), reads go on and say why.
  c->Tick();
  EXPECT_EQ(ch->Launches().size(), 1u);
  EXPECT_EQ(c->ListNodes().store_condition, ro.message());
  EXPECT_EQ(c->ListJobs({}).store_condition, ro.message());
  EXPECT_NE(c->MetricsText().find("muster_store_writable 0"), std::string::npos);

  // Writes succeed again: what was not stored is written, and changes are taken again.
  store_->Heal();
  c->Tick();
  EXPECT_TRUE(c->Writable().ok());
  EXPECT_EQ(Stored(*a)->state, JobState::kSucceeded);
  EXPECT_EQ(c->ListJobs({}).store_condition, "");
  EXPECT_NE(c->MetricsText().find("muster_store_writable 1"), std::string::npos);
  EXPECT_EQ(ch->Launches().size(), 2u);  // b started in that same pass
  EXPECT_TRUE(c->Submit(MakeSpec(1)).ok());
}

}  // namespace
}  // namespace muster::cluster::testing
