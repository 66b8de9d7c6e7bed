#include "cluster/store/memory_store.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

JobRecord MakeJob(JobId id, int tasks) {
  JobSpec s;
  s.name = "job" + std::to_string(id);
  s.command = {"true"};
  s.tasks = tasks;
  JobRecord j;
  j.id = id;
  j.spec = std::make_shared<const JobSpec>(s);
  for (int i = 0; i < tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  return j;
}

TEST(MemoryStore, KeepsWhatIsWrittenLikeAPersistentStore) {
  MemoryStore store;
  JobRecord j = MakeJob(3, 2);
  ASSERT_TRUE(store.Wait(store.InsertJob(j)).ok());
  j.state = JobState::kRunning;
  j.reason = "r";
  store.UpdateJob(j);
  TaskRecord t = j.tasks[1];
  t.state = TaskState::kRunning;
  t.attempt = 2;
  t.stop_requested = true;  // runtime only: not persisted
  store.UpdateTask(3, t);
  store.UpdateProgress(3, 1, "p");
  store.AppendJobHistory(3, 5, "moved");
  j.pinned_node = "n2";
  store.UpdatePin(j);
  store.UpsertNode({.spec = {.name = "n1", .milli_cpus = 1000, .memory_mib = 1, .gpus = {}},
                    .address = "h",
                    .last_seen_ms = 9});
  ASSERT_TRUE(store.Flush().ok());

  auto loaded = store.LoadAll();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->jobs.size(), 1u);
  const JobRecord& got = loaded->jobs[0];
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.reason, "r");
  EXPECT_EQ(got.tasks[1].state, TaskState::kRunning);
  EXPECT_EQ(got.tasks[1].attempt, 2);
  EXPECT_FALSE(got.tasks[1].stop_requested);
  EXPECT_EQ(got.tasks[1].progress, "p");
  EXPECT_EQ(got.history, std::vector<std::string>{"moved"});
  EXPECT_EQ(got.pinned_node, "n2");
  ASSERT_EQ(loaded->nodes.size(), 1u);
  EXPECT_EQ(loaded->nodes[0].last_seen_ms, 9);
}

TEST(MemoryStore, InjectedFailuresChangeNothingAndAreReportedToTheirWaiter) {
  MemoryStore store;
  JobRecord j = MakeJob(1, 1);
  store.FailNextWrites(1, Status::Unavailable("disk full"));
  auto failed = store.InsertJob(j);
  auto ok = store.InsertJob(MakeJob(2, 1));
  EXPECT_EQ(store.Wait(failed).message(), "disk full");
  EXPECT_TRUE(store.Wait(failed).ok());  // reported once, like the SQLite store
  EXPECT_TRUE(store.Wait(ok).ok());
  ASSERT_EQ(store.Contents().jobs.size(), 1u);
  EXPECT_EQ(store.Contents().jobs[0].id, 2);

  store.FailWrites(Status::Unavailable("read-only"), StoreWrite::kUpdateTask);
  TaskRecord t;
  t.state = TaskState::kRunning;
  EXPECT_FALSE(store.Wait(store.UpdateTask(2, t)).ok());
  JobRecord two = MakeJob(2, 1);
  two.state = JobState::kRunning;
  EXPECT_TRUE(store.Wait(store.UpdateJob(two)).ok());  // other kinds still succeed
  EXPECT_EQ(store.Contents().jobs[0].tasks[0].state, TaskState::kPending);
  EXPECT_EQ(store.failed_writes(), 2);

  store.FailLoads(Status::Internal("corrupt"));
  EXPECT_EQ(store.LoadAll().status().message(), "corrupt");
  EXPECT_FALSE(store.LoadUsage(0).ok());
  store.Heal();
  EXPECT_TRUE(store.LoadAll().ok());
  EXPECT_TRUE(store.Wait(store.UpdateTask(2, t)).ok());
  EXPECT_EQ(store.Contents().jobs[0].tasks[0].state, TaskState::kRunning);
}

TEST(MemoryStore, UsageRowsArePrunedAndOrdered) {
  MemoryStore store;
  store.InsertUsage({.node = "b", .time_ms = 20});
  store.InsertUsage({.node = "a", .time_ms = 20});
  store.InsertUsage({.node = "a", .time_ms = 5});
  store.PruneUsage(10);
  auto rows = store.LoadUsage(0);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].node, "a");
  EXPECT_EQ((*rows)[1].node, "b");
}

}  // namespace
}  // namespace muster::cluster
