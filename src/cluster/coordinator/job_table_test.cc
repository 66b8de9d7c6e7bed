#include "cluster/coordinator/job_table.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

NodeSpec Node(const std::string& name, int gpus) {
  NodeSpec n{.name = name, .milli_cpus = 4000, .memory_mib = 8192, .gpus = {}};
  for (int g = 0; g < gpus; ++g) n.gpus.push_back({g, "virtual", 16384, true});
  return n;
}

JobRecord Job(JobId id, int tasks, bool gang = false) {
  auto spec = std::make_shared<JobSpec>();
  spec->command = {"true"};
  spec->tasks = tasks;
  spec->gang = gang;
  spec->resources.milli_cpus = 1000;
  spec->resources.memory_mib = 1024;
  spec->resources.gpus = 1;
  JobRecord j;
  j.id = id;
  j.spec = spec;
  for (int i = 0; i < tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  return j;
}

TEST(ClusterState, HoldsAndReleasesByTask) {
  ClusterState c;
  c.SetNode(Node("a", 2));
  c.SetSchedulable("a", true);
  ResourceRequest r;
  r.milli_cpus = 1500;
  r.gpus = 1;
  c.Hold("a", {1, 0}, r, {1});
  EXPECT_EQ(c.Free("a")->milli_cpus, 2500);
  EXPECT_EQ(c.Free("a")->gpu_free, (std::vector<bool>{true, false}));
  c.Hold("a", {1, 0}, r, {0});  // the same task again replaces its holding
  EXPECT_EQ(c.Free("a")->milli_cpus, 2500);
  EXPECT_EQ(c.Free("a")->gpu_free, (std::vector<bool>{false, true}));
  EXPECT_EQ(c.Holders("a"), 1);
  c.Release("a", {1, 0});
  c.Release("a", {1, 0});  // twice: no-op
  EXPECT_EQ(c.Free("a")->milli_cpus, 4000);
  EXPECT_EQ(c.Holders("a"), 0);
  ASSERT_EQ(c.SchedulableViews().size(), 1u);
  EXPECT_TRUE(c.Schedulable("a"));
  c.SetSchedulable("a", false);
  EXPECT_TRUE(c.SchedulableViews().empty());
  EXPECT_FALSE(c.Schedulable("a"));
  EXPECT_EQ(c.Free("b"), nullptr);
}

TEST(ClusterState, HoldingsOnAnUnknownNodeCountOnceItArrives) {
  ClusterState c;
  ResourceRequest r;
  r.gpus = 1;
  c.Hold("late", {3, 0}, r, {1});  // adopted after a restart, before its agent registered
  EXPECT_EQ(c.Free("late"), nullptr);
  c.SetSchedulable("late", true);  // unknown nodes are never schedulable
  EXPECT_TRUE(c.SchedulableViews().empty());
  c.SetNode(Node("late", 2));
  EXPECT_EQ(c.Free("late")->gpu_free, (std::vector<bool>{true, false}));
  c.SetNode(Node("late", 4));  // re-registered bigger: rebuilt from its holdings
  EXPECT_EQ(c.Free("late")->gpu_free, (std::vector<bool>{true, false, true, true}));
}

TEST(JobTable, TransitionsFollowTheStateMachineAndMoveCapacity) {
  ClusterState c;
  c.SetNode(Node("a", 2));
  JobTable t(&c);
  JobRecord& j = t.Add(Job(t.ReserveId(), 1));
  TaskRecord& task = j.tasks[0];
  EXPECT_EQ(t.active().count(j.id), 1u);
  // pending -> running skips launching: refused, nothing changes.
  Status s = t.SetTaskState(j, task, TaskState::kRunning);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "task 1.0: illegal task transition pending -> running");
  EXPECT_EQ(task.state, TaskState::kPending);
  EXPECT_EQ(t.illegal_transitions(), 1);

  task.node = "a";
  task.gpus = {1};
  ASSERT_TRUE(t.SetTaskState(j, task, TaskState::kLaunching).ok());
  EXPECT_EQ(c.Free("a")->milli_cpus, 3000);
  ASSERT_TRUE(t.SetTaskState(j, task, TaskState::kRunning).ok());
  EXPECT_EQ(c.Free("a")->milli_cpus, 3000);                        // still held: no double debit
  ASSERT_TRUE(t.SetTaskState(j, task, TaskState::kPending).ok());  // requeued
  EXPECT_EQ(c.Free("a")->milli_cpus, 4000);
  ASSERT_TRUE(t.SetTaskState(j, task, TaskState::kLaunching).ok());
  ASSERT_TRUE(t.SetTaskState(j, task, TaskState::kSucceeded).ok());
  EXPECT_EQ(c.Free("a")->gpu_free, (std::vector<bool>{true, true}));
  EXPECT_FALSE(t.SetTaskState(j, task, TaskState::kPending).ok());  // succeeded is final

  ASSERT_TRUE(t.SetJobState(j, JobState::kRunning).ok());
  ASSERT_TRUE(t.SetJobState(j, JobState::kSucceeded).ok());
  EXPECT_FALSE(t.SetJobState(j, JobState::kRunning).ok());
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(t.illegal_transitions(), 3);
  EXPECT_TRUE(t.SetActive(j.id, false));
  EXPECT_FALSE(t.SetActive(j.id, false));
}

TEST(JobTable, IdsAreNeverReusedAfterLoading) {
  ClusterState c;
  JobTable t(&c);
  JobRecord stored = Job(41, 1);
  stored.tasks[0].state = TaskState::kRunning;  // adopted as it is, holding its node
  stored.tasks[0].node = "a";
  stored.tasks[0].gpus = {0};
  t.Load(std::move(stored));
  EXPECT_EQ(t.ReserveId(), 42);
  EXPECT_EQ(t.ReserveId(), 43);
  c.SetNode(Node("a", 1));
  EXPECT_EQ(c.Free("a")->gpu_free, std::vector<bool>{false});
  ASSERT_NE(t.Find(41), nullptr);
  EXPECT_EQ(JobTable::FindTask(t.Get(41), 0)->state, TaskState::kRunning);
  EXPECT_EQ(JobTable::FindTask(t.Get(41), 1), nullptr);
}

TEST(JobTable, AStoppedGangRestartsOrEndsWhole) {
  ClusterState c;
  JobTable t(&c);
  JobRecord& g = t.Add(Job(t.ReserveId(), 3, /*gang=*/true));
  g.tasks[0].state = TaskState::kSucceeded;
  g.tasks[1].state = TaskState::kFailed;
  g.tasks[2].state = TaskState::kRunning;
  EXPECT_FALSE(t.FinishGangStop(g, GangOutcome::kRetry).ok());  // rank 2 still runs
  g.tasks[2].state = TaskState::kCancelled;
  ASSERT_TRUE(t.FinishGangStop(g, GangOutcome::kRetry).ok());
  for (const auto& r : g.tasks) EXPECT_EQ(r.state, TaskState::kPending);
  ASSERT_TRUE(t.FinishGangStop(g, GangOutcome::kFail).ok());
  for (const auto& r : g.tasks) EXPECT_EQ(r.state, TaskState::kFailed);

  JobRecord& single = t.Add(Job(t.ReserveId(), 1));
  EXPECT_FALSE(t.FinishGangStop(single, GangOutcome::kCancel).ok());
  EXPECT_EQ(t.illegal_transitions(), 2);
}

}  // namespace
}  // namespace muster::cluster

namespace muster::cluster {
namespace {

TEST(JobTable, AParkedJobIsWokenWhenWhatItWaitsForEndsOrGoes) {
  ClusterState c;
  JobTable t(&c);
  for (JobId id = 1; id <= 4; ++id) t.Add(Job(id, 1));
  t.Park(3, 1);
  t.Park(4, 1);
  t.Park(2, 0);  // a hold: only Unpark wakes it
  EXPECT_EQ(t.parked(), 3u);
  // A change that is not an end wakes nobody.
  ASSERT_TRUE(t.SetJobState(t.Get(1), JobState::kRunning).ok());
  EXPECT_TRUE(t.Parked(3));
  EXPECT_TRUE(t.Parked(4));
  ASSERT_TRUE(t.SetJobState(t.Get(1), JobState::kSucceeded).ok());
  EXPECT_FALSE(t.Parked(3));
  EXPECT_FALSE(t.Parked(4));
  EXPECT_TRUE(t.Parked(2));
  t.Unpark(2);
  t.Unpark(2);  // twice: no-op
  EXPECT_EQ(t.parked(), 0u);

  // Parking again replaces the earlier park: only the new one wakes it.
  t.Park(4, 3);
  t.Park(4, 2);
  ASSERT_TRUE(t.SetJobState(t.Get(3), JobState::kCancelled).ok());
  EXPECT_TRUE(t.Parked(4));
  // A job that is erased wakes its waiters and is parked no more itself.
  ASSERT_TRUE(t.SetJobState(t.Get(2), JobState::kFailed).ok());
  EXPECT_FALSE(t.Parked(4));
  t.Park(4, 1);
  t.SetActive(1, false);
  ASSERT_TRUE(t.Erase(1));
  EXPECT_FALSE(t.Parked(4));
  t.Park(4, 0);
  ASSERT_TRUE(t.SetJobState(t.Get(4), JobState::kCancelled).ok());
  EXPECT_EQ(t.parked(), 0u);
}

}  // namespace
}  // namespace muster::cluster
