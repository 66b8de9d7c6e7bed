#include "cluster/coordinator/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace muster::cluster {
namespace {

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("muster_store_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

JobRecord MakeJob(JobId id, int tasks) {
  JobSpec s;
  s.name = "job" + std::to_string(id);
  s.command = {"echo", "hi"};
  s.tasks = tasks;
  s.resources.gpus = 1;
  JobRecord j;
  j.id = id;
  j.spec = std::make_shared<const JobSpec>(s);
  j.submit_ms = 1000 + id;
  for (int i = 0; i < tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  return j;
}

TEST(Store, RoundTripAndReopen) {
  std::string dir = TempDir("roundtrip");
  {
    auto store = Store::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    JobRecord j = MakeJob(7, 2);
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(j)).ok());
    j.state = JobState::kRunning;
    j.start_ms = 2000;
    j.reason = "why";
    (*store)->UpdateJob(j);
    TaskRecord t = j.tasks[1];
    t.state = TaskState::kRunning;
    t.attempt = 3;
    t.node = "n1";
    t.gpus = {0, 2};
    t.retries = 1;
    t.lost_requeues = 2;
    t.start_ms = 2100;
    t.message = "m";
    (*store)->UpdateTask(7, t);
    (*store)->UpdateProgress(7, 1, "progress-bytes");
    NodeRecord n;
    n.spec = {.name = "n1",
              .milli_cpus = 4000,
              .memory_mib = 8000,
              .gpus = {{.index = 0, .model = "virtual", .memory_mib = 100, .is_virtual = true}}};
    n.address = "10.1.2.3";
    n.last_seen_ms = 5000;
    ASSERT_TRUE((*store)->Wait((*store)->UpsertNode(n)).ok());
  }
  auto store = Store::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 1u);
  const JobRecord& j = c->jobs[0];
  EXPECT_EQ(j.id, 7);
  EXPECT_EQ(j.spec->name, "job7");
  EXPECT_EQ(j.spec->command, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_EQ(j.spec->resources.gpus, 1);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.start_ms, 2000);
  EXPECT_EQ(j.reason, "why");
  ASSERT_EQ(j.tasks.size(), 2u);
  EXPECT_EQ(j.tasks[0].state, TaskState::kPending);
  const TaskRecord& t = j.tasks[1];
  EXPECT_EQ(t.state, TaskState::kRunning);
  EXPECT_EQ(t.attempt, 3);
  EXPECT_EQ(t.node, "n1");
  EXPECT_EQ(t.gpus, (std::vector<int>{0, 2}));
  EXPECT_EQ(t.retries, 1);
  EXPECT_EQ(t.lost_requeues, 2);
  EXPECT_EQ(t.progress, "progress-bytes");
  ASSERT_EQ(c->nodes.size(), 1u);
  EXPECT_EQ(c->nodes[0].spec.name, "n1");
  EXPECT_EQ(c->nodes[0].address, "10.1.2.3");
  EXPECT_EQ(c->nodes[0].last_seen_ms, 5000);
  ASSERT_EQ(c->nodes[0].spec.gpus.size(), 1u);
}

TEST(Store, ConcurrentWritesAreGroupCommitted) {
  std::string dir = TempDir("group");
  auto store = Store::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        JobId id = th * 1000 + i + 1;
        EXPECT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(id, 1))).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->jobs.size(), static_cast<size_t>(kThreads * kPerThread));
  // Waiting writers share transactions: fewer commits than writes.
  EXPECT_LT((*store)->CommittedBatches(), static_cast<uint64_t>(kThreads * kPerThread));
}

TEST(Store, RefusesNewerSchema) {
  std::string dir = TempDir("schema");
  {
    auto store = Store::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
  }
  {
    // Bump the version behind the store's back.
    auto store = Store::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
  }
  std::string cmd = "sqlite3 " + dir + "/state.db 'PRAGMA user_version=99' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "sqlite3 shell not available";
  auto store = Store::Open(dir + "/state.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

}  // namespace
}  // namespace muster::cluster
