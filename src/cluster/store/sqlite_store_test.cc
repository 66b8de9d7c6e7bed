#include "cluster/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
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

TEST(SqliteStore, RoundTripAndReopen) {
  std::string dir = TempDir("roundtrip");
  {
    auto store = SqliteStore::Open(dir + "/state.db");
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
  auto store = SqliteStore::Open(dir + "/state.db");
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

TEST(SqliteStore, ADrainIsKeptWithItsNodeUntilItEnds) {
  std::string dir = TempDir("drain");
  NodeRecord n;
  n.spec = {.name = "n1", .milli_cpus = 4000, .memory_mib = 8000};
  {
    auto store = SqliteStore::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertNode(n)).ok());
    n.drain_reason = "new PSU";
    n.drained_by = "alice";
    n.drain_ms = 1234;
    ASSERT_TRUE((*store)->Wait((*store)->UpdateDrain(n)).ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertNode(n)).ok());  // a heartbeat's row keeps it
  }
  {
    auto store = SqliteStore::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
    auto c = (*store)->LoadAll();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_EQ(c->nodes.size(), 1u);
    EXPECT_TRUE(c->nodes[0].Drained());
    EXPECT_EQ(c->nodes[0].drain_reason, "new PSU");
    EXPECT_EQ(c->nodes[0].drained_by, "alice");
    EXPECT_EQ(c->nodes[0].drain_ms, 1234);
    n.drain_ms = 0;
    ASSERT_TRUE((*store)->Wait((*store)->UpdateDrain(n)).ok());
  }
  auto store = SqliteStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->nodes.size(), 1u);
  EXPECT_FALSE(c->nodes[0].Drained());
  EXPECT_EQ(c->nodes[0].drain_reason, "");
}

TEST(SqliteStore, ConcurrentWritesAreGroupCommitted) {
  std::string dir = TempDir("group");
  auto store = SqliteStore::Open(dir + "/state.db");
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

TEST(SqliteStore, RefusesNewerSchema) {
  std::string dir = TempDir("schema");
  {
    auto store = SqliteStore::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
  }
  {
    // Bump the version behind the store's back.
    auto store = SqliteStore::Open(dir + "/state.db");
    ASSERT_TRUE(store.ok());
  }
  std::string cmd = "sqlite3 " + dir + "/state.db 'PRAGMA user_version=99' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "sqlite3 shell not available";
  auto store = SqliteStore::Open(dir + "/state.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

// Runs one statement on a second connection, behind the store's back.
void Behind(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(SqliteStore, AVersionOneStoreGainsUserCertificatesAndKeepsItsUsers) {
  std::string dir = TempDir("v1");
  const std::string path = dir + "/state.db";
  std::filesystem::create_directories(dir);
  // A store as version 1 left it: users without a certificate column.
  Behind(path,
         "CREATE TABLE users(name TEXT PRIMARY KEY, role TEXT NOT NULL, token_hash TEXT NOT NULL, "
         "created_ms INTEGER NOT NULL); INSERT INTO users VALUES('ann', 'admin', 'h1', 7); "
         "PRAGMA user_version=1");
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto all = (*store)->LoadAll();
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->users.size(), 1u);
    EXPECT_EQ(all->users[0], (UserRecord{"ann", "admin", "h1", 7, ""}));
    ASSERT_TRUE((*store)->Wait((*store)->UpsertUser({"ann", "admin", "h1", 7, "fp"})).ok());
  }
  auto store = SqliteStore::Open(path);  // opening again does not migrate twice
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->LoadAll()->users[0].cert_fp, "fp");
}

TEST(SqliteStore, AVersionTwoStoreGainsMeasuredUsageAndKeepsItsTasks) {
  std::string dir = TempDir("v2");
  const std::string path = dir + "/state.db";
  // Tasks as version 2 left them: no measured usage.
  Behind(path,
         "CREATE TABLE jobs(id INTEGER PRIMARY KEY, spec BLOB NOT NULL, state TEXT NOT NULL, "
         "submit_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, "
         "reason TEXT NOT NULL); "
         "CREATE TABLE tasks(job INTEGER NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL, "
         "attempt INTEGER NOT NULL, node TEXT NOT NULL, gpus TEXT NOT NULL, exit_code INTEGER NOT "
         "NULL, retries INTEGER NOT NULL, lost_requeues INTEGER NOT NULL, start_ms INTEGER NOT "
         "NULL, end_ms INTEGER NOT NULL, message TEXT NOT NULL, progress BLOB NOT NULL, "
         "PRIMARY KEY(job, idx)) WITHOUT ROWID; "
         "INSERT INTO jobs VALUES(1, x'', 'succeeded', 1, 2, 3, ''); "
         "INSERT INTO tasks VALUES(1, 0, 'succeeded', 1, 'n', '', 0, 0, 0, 2, 3, '', x''); "
         "PRAGMA user_version=2");
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->jobs.size(), 1u);
  ASSERT_EQ(all->jobs[0].tasks.size(), 1u);
  EXPECT_EQ(all->jobs[0].tasks[0].peak_memory_mib, 0);
  EXPECT_LT(all->jobs[0].tasks[0].cpu_seconds, 0);  // not measured
}

TEST(SqliteStore, AccountingRowsOutliveTheirJobAndAreFilteredByTimeUserAndJob) {
  std::string dir = TempDir("acct");
  auto store = SqliteStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  JobRecord j = MakeJob(5, 1);
  ASSERT_TRUE((*store)->Wait((*store)->InsertJob(j)).ok());
  AccountingRow a{.job = 5, .index = 0, .attempt = 1, .user = "ann", .name = "train",
                  .node = "n1", .state = "requeued", .exit_code = 0, .submit_ms = 10,
                  .start_ms = 20, .end_ms = 1000, .gpus = 2, .milli_cpus = 1500,
                  .cpu_seconds = 1.5, .peak_memory_mib = 300, .gpu_util = 0.5,
                  .energy_wh = 0.25};
  AccountingRow b = a;
  b.attempt = 2;
  b.state = "succeeded";
  b.end_ms = 5000;
  b.energy_wh = -1;
  AccountingRow c = a;
  c.job = 6;
  c.user = "bob";
  c.end_ms = 7000;
  for (const auto& r : {a, b, c}) ASSERT_TRUE((*store)->Wait((*store)->InsertAccounting(r)).ok());
  ASSERT_TRUE((*store)->Wait((*store)->DeleteJob(5)).ok());  // the job goes, its rows stay
  store->reset();
  store = SqliteStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  auto every = (*store)->LoadAccounting(0, "", 0);
  ASSERT_TRUE(every.ok()) << every.status().ToString();
  ASSERT_EQ(every->size(), 3u);
  const AccountingRow& got = (*every)[0];
  EXPECT_EQ(got.user, "ann");
  EXPECT_EQ(got.state, "requeued");
  EXPECT_EQ(got.gpus, 2);
  EXPECT_EQ(got.milli_cpus, 1500);
  EXPECT_DOUBLE_EQ(got.cpu_seconds, 1.5);
  EXPECT_EQ(got.peak_memory_mib, 300);
  EXPECT_DOUBLE_EQ(got.gpu_util, 0.5);
  EXPECT_DOUBLE_EQ(got.energy_wh, 0.25);
  EXPECT_LT((*every)[1].energy_wh, 0);
  EXPECT_EQ((*store)->LoadAccounting(2000, "", 0)->size(), 2u);   // ended since
  EXPECT_EQ((*store)->LoadAccounting(0, "bob", 0)->size(), 1u);   // of a user
  EXPECT_EQ((*store)->LoadAccounting(0, "", 5)->size(), 2u);      // of a job
  EXPECT_EQ((*store)->LoadAccounting(0, "bob", 5)->size(), 0u);
}

TEST(SqliteStore, AFailedWriteFailsAloneAndLeavesTheRestOfItsBatchCommitted) {
  std::string dir = TempDir("batchfail");
  auto store = SqliteStore::Open(dir + "/state.db");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(1, 1))).ok());
  Behind(dir + "/state.db", "DROP TABLE job_history");
  // Queued back to back, so that they usually share one transaction.
  auto a = (*store)->InsertJob(MakeJob(5, 2));
  auto bad = (*store)->AppendJobHistory(5, 10, "never stored");
  auto b = (*store)->InsertJob(MakeJob(6, 1));
  EXPECT_TRUE((*store)->Wait(a).ok());
  Status s = (*store)->Wait(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("job_history"), std::string::npos) << s.message();
  EXPECT_TRUE((*store)->Wait(b).ok());
  Behind(dir + "/state.db",
         "CREATE TABLE job_history(job INTEGER NOT NULL, time_ms INTEGER NOT NULL, "
         "text TEXT NOT NULL)");
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 3u);
  EXPECT_EQ(c->jobs[1].tasks.size(), 2u);
  EXPECT_TRUE(c->jobs[1].history.empty());
}

TEST(SqliteStore, ACorruptFileIsRefusedNotLoadedInPart) {
  std::string dir = TempDir("corrupt");
  const std::string path = dir + "/state.db";
  constexpr int kJobs = 3000;  // many pages of jobs and tasks
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    for (int i = 1; i <= kJobs; ++i) (*store)->InsertJob(MakeJob(i, 2));
    ASSERT_TRUE((*store)->Flush().ok());
  }
  Behind(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  const auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 40u * 4096);
  {
    // Overwrite pages in the middle of the file (not the header page) with garbage.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string junk(8 * 4096, '\xA5');
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = SqliteStore::Open(path);
  if (!store.ok())
    SUCCEED() << "refused at open: " << store.status().message();
  else {
    auto c = (*store)->LoadAll();
    ASSERT_FALSE(c.ok()) << "loaded " << c->jobs.size() << " of " << kJobs
                         << " jobs as if complete";
    EXPECT_NE(c.status().message().find("malformed"), std::string::npos) << c.status().message();
  }
}

TEST(SqliteStore, UsersAndTheAuditLogSurviveAReopenAndTheFileIsPrivate) {
  std::string dir = TempDir("users");
  const std::string path = dir + "/state.db";
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    UserRecord a{"alice", "user", "aa", 1, ""}, b{"bob", "viewer", "bb", 2, "cc"};
    ASSERT_TRUE((*store)->Wait((*store)->UpsertUser(a)).ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertUser(b)).ok());
    b.role = "admin";
    ASSERT_TRUE((*store)->Wait((*store)->UpsertUser(b)).ok());  // replaced, not added
    ASSERT_TRUE((*store)->Wait((*store)->DeleteUser("alice")).ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertJoinToken({"h1", "node7", 99})).ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertJoinToken({"h2", "", 98})).ok());
    ASSERT_TRUE((*store)->Wait((*store)->DeleteJoinToken("h2")).ok());
    for (int i = 0; i < 5; ++i)
      (*store)->AppendAudit({1000 + i, i % 2 ? "bob" : "carol", "user", "token", "ipv4:x",
                             "submit", "job " + std::to_string(i), "ok"});
    ASSERT_TRUE((*store)->Flush().ok());
  }
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->users.size(), 1u);
  EXPECT_EQ(all->users[0], (UserRecord{"bob", "admin", "bb", 2, "cc"}));
  ASSERT_EQ(all->join_tokens.size(), 1u);
  EXPECT_EQ(all->join_tokens[0], (JoinTokenRecord{"h1", "node7", 99}));
  auto audit = (*store)->LoadAudit(0, "", 0);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 5u);
  EXPECT_EQ((*audit)[0].target, "job 0");  // oldest first
  auto bobs = (*store)->LoadAudit(0, "bob", 0);
  ASSERT_EQ(bobs->size(), 2u);
  auto newest = (*store)->LoadAudit(1001, "", 2);
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].target, "job 3");
  EXPECT_EQ((*newest)[1].target, "job 4");
}

TEST(SqliteStore, JobIdsAreNeverReusedEvenAfterRowsAreGone) {
  std::string dir = TempDir("ids");
  const std::string path = dir + "/state.db";
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(7, 1))).ok());
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(3, 1))).ok());
  }
  {  // the newest job's rows disappear (as retention will remove old ones)
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DELETE FROM jobs WHERE id = 7; DELETE FROM tasks WHERE job = 7",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->jobs.size(), 1u);
  EXPECT_EQ(all->next_job_id, 8);  // from the counter, not from the rows left
}

TEST(SqliteStore, ADamagedOrForeignFileIsRefusedAtOpenWithWhatToDo) {
  std::string dir = TempDir("damaged");
  const std::string path = dir + "/state.db";
  {
    std::ofstream out(path);
    out << "this is not a database, just some text that happens to be here\n";
  }
  auto foreign = SqliteStore::Open(path);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(foreign.status().message().find(path), std::string::npos);
  EXPECT_NE(foreign.status().message().find("restore it from a backup"), std::string::npos)
      << foreign.status().message();

  // A real store whose pages were overwritten in the middle.
  std::filesystem::remove(path);
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    for (int i = 1; i <= 300; ++i) (*store)->InsertJob(MakeJob(i, 4));
    ASSERT_TRUE((*store)->Flush().ok());
  }
  {  // checkpoint the WAL into the file, then damage it
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    const auto size = std::filesystem::file_size(path);
    ASSERT_GT(size, 8u * 4096);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    std::string junk(8192, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto damaged = SqliteStore::Open(path);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(damaged.status().message().find("is damaged"), std::string::npos)
      << damaged.status().message();
}

}  // namespace
}  // namespace muster::cluster
