// The StateStore contract (state_store.h), run against each durable backend: SqliteStore in a
// file of its own, and PostgresStore on a throwaway server of its own per test
// (PostgresTestServer; the PostgreSQL cases skip, saying so, where no server binaries are
// installed). What only one backend has (SQLite's file checks and in-place migrations, the
// PostgreSQL server going away) is tested beside it: sqlite_store_test.cc, postgres_store_test.cc.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "cluster/proto/muster.pb.h"
#include "cluster/store/postgres_store.h"
#include "cluster/store/postgres_test_server.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/store/store_test_util.h"

namespace muster::cluster {
namespace {

// One database of a backend, and what a test does behind its stores' back.
class Backend {
 public:
  virtual ~Backend() = default;
  // A store over the backend's database: the same database every time (a reopen).
  virtual Result<std::unique_ptr<StateStore>> Open(StoreOptions options = {}) = 0;
  // Runs SQL that both dialects read alike on a connection of its own.
  virtual void Behind(const std::string& sql) = 0;
  // Makes job `id`'s stored spec bytes that do not parse.
  virtual void SetSpecBytes(JobId id, const std::string& hex) = 0;
  void CorruptSpec(JobId id) { SetSpecBytes(id, "0a7f"); }
  // Sets the stored schema version.
  virtual void SetSchemaVersion(int version) = 0;
};

template <typename Store>
Result<std::unique_ptr<StateStore>> AsStateStore(Result<std::unique_ptr<Store>> r) {
  if (!r.ok()) return r.status();
  return std::unique_ptr<StateStore>(std::move(r).value());
}

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(const std::string& name) : path_(StoreTestDir(name) + "/state.db") {}
  Result<std::unique_ptr<StateStore>> Open(StoreOptions options) override {
    return AsStateStore(SqliteStore::Open(path_, options));
  }
  void Behind(const std::string& sql) override {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  void SetSpecBytes(JobId id, const std::string& hex) override {
    Behind("UPDATE jobs SET spec = x'" + hex + "' WHERE id = " + std::to_string(id));
  }
  void SetSchemaVersion(int version) override {
    Behind("PRAGMA user_version=" + std::to_string(version));
  }

 private:
  std::string path_;
};

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(std::unique_ptr<PostgresTestServer> server)
      : server_(std::move(server)) {}
  Result<std::unique_ptr<StateStore>> Open(StoreOptions options) override {
    return AsStateStore(PostgresStore::Open(server_->url(), options));
  }
  void Behind(const std::string& sql) override {
    Status s = server_->Exec(sql);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  void SetSpecBytes(JobId id, const std::string& hex) override {
    Behind("UPDATE jobs SET spec = '\\x" + hex + "'::bytea WHERE id = " + std::to_string(id));
  }
  void SetSchemaVersion(int version) override {
    Behind("UPDATE meta SET value = " + std::to_string(version) + " WHERE key = 'schema_version'");
  }

 private:
  std::unique_ptr<PostgresTestServer> server_;
};

enum class Kind { kSqlite, kPostgres };

class StoreContract : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    if (GetParam() == Kind::kSqlite) {
      std::string name = info->name();
      for (char& c : name)
        if (c == '/') c = '_';
      backend_ = std::make_unique<SqliteBackend>(name);
      return;
    }
    if (auto bin = PostgresTestServer::FindBinaries(); !bin.ok())
      GTEST_SKIP() << bin.status().message();
    auto server = PostgresTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().message();
    backend_ = std::make_unique<PostgresBackend>(std::move(server).value());
  }
  Backend& backend() { return *backend_; }
  Result<std::unique_ptr<StateStore>> OpenStore() { return backend_->Open(); }

 private:
  std::unique_ptr<Backend> backend_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::Values(Kind::kSqlite, Kind::kPostgres),
                         [](const auto& info) {
                           return info.param == Kind::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(StoreContract, RoundTripAndReopen) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    JobRecord j = MakeStoreTestJob(7, 2);
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
  auto store = OpenStore();
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

// Every kind of record, with every persisted field set to something other than its default,
// comes back as written after a reopen; the ones cleared or deleted do not come back.
// An array is one job row until its tasks change: a task as submitted has no row, and is made
// again, pending, on load; a task that changed comes back as it was stored.
TEST_P(StoreContract, AnArrayIsStoredCompactlyAndLoadedWhole) {
  constexpr int kTasks = 200000;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    JobSpec spec;
    spec.name = "big";
    spec.command = {"true"};
    spec.array = ArrayRange{.first = 5, .last = 5 + kTasks - 1};
    JobRecord j;
    j.id = 3;
    j.spec = std::make_shared<const JobSpec>(spec);
    j.submit_ms = 1000;
    j.tasks.resize(kTasks);
    for (int i = 0; i < kTasks; ++i) j.tasks[i].index = spec.TaskIndex(i);
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(j)).ok());
    TaskRecord& t = j.tasks[7];  // index 12
    t.state = TaskState::kSucceeded;
    t.attempt = 1;
    t.node = "n1";
    t.end_ms = 2000;
    ASSERT_TRUE((*store)->Wait((*store)->UpdateTask(j.id, t)).ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 1u);
  const JobRecord& j = c->jobs[0];
  ASSERT_EQ(j.tasks.size(), static_cast<size_t>(kTasks));
  for (int i : {0, 6, 8, kTasks - 1}) {
    EXPECT_EQ(j.tasks[i].index, 5 + i);
    EXPECT_EQ(j.tasks[i].state, TaskState::kPending);
    EXPECT_EQ(j.tasks[i].attempt, 0);
  }
  EXPECT_EQ(j.tasks[7].index, 12);
  EXPECT_EQ(j.tasks[7].state, TaskState::kSucceeded);
  EXPECT_EQ(j.tasks[7].node, "n1");
  EXPECT_EQ(j.tasks[7].end_ms, 2000);
}

TEST_P(StoreContract, EveryRecordTypeRoundTrips) {
  JobRecord j = MakeStoreTestJob(11, 2);
  j.state = JobState::kRunning;
  j.submit_ms = 1'700'000'000'123;
  j.start_ms = 1'700'000'001'000;
  j.end_ms = 1'700'000'009'000;
  j.reason = "on \xE2\x9C\x93 its way";
  j.tasks[0].state = TaskState::kSucceeded;
  j.tasks[0].attempt = 4;
  j.tasks[0].node = "gpu-b";
  j.tasks[0].gpus = {1, 3, 7};
  j.tasks[0].exit_code = -9;
  j.tasks[0].retries = 2;
  j.tasks[0].lost_requeues = 1;
  j.tasks[0].start_ms = 1'700'000'002'000;
  j.tasks[0].end_ms = 1'700'000'003'000;
  j.tasks[0].message = "killed";
  j.tasks[0].progress = std::string("\x00\x01\xff", 3);
  j.tasks[0].peak_memory_mib = 1234;
  j.tasks[0].cpu_seconds = 2.5f;
  j.pinned_node = "gpu-b";
  j.migrate_reason = "migrated to gpu-b: hot";
  j.pin_expires_ms = 99'000;
  j.held_by = "ann";
  j.held_ms = 55;
  j.submit_prediction = {
      .made_ms = 10, .start_ms = 20, .finish_ms = 30, .low_s = 0.125, .high_s = 1e9 + 0.5};
  JobRecord cleared = MakeStoreTestJob(12, 1);
  cleared.pinned_node = "x";
  cleared.held_by = "bob";
  cleared.held_ms = 7;
  NodeRecord drained, plain;
  drained.spec = {.name = "gpu-b", .milli_cpus = 64000, .memory_mib = 512000};
  drained.address = "10.0.0.2";
  drained.last_seen_ms = 42;
  drained.drain_reason = "fan";
  drained.drained_by = "ops";
  drained.drain_ms = 77;
  plain.spec = {.name = "A-node", .milli_cpus = 1000, .memory_mib = 1000};
  const UserRecord ann{"ann", "admin", "h-ann", 1, "fp-ann"}, zed{"Zed", "viewer", "h-zed", 2, ""};
  const JoinTokenRecord token{"tok-1", "gpu-c", 123};
  const LimitRecord group{"group", "ml", 8, 16000, 3, "ann", 5},
      user{"user", "bob", 2, 0, 0, "ann", 6}, gone{"user", "carl", 1, 1, 1, "ann", 7};
  const AuditRecord audit{900, "ann", "admin", "token", "ipv4:1.2.3.4", "submit", "job 11", "ok"};
  const UsageRow u1{"gpu-b", 5000, 0.5, -1, 0.25, 0.75}, u2{"A-node", 5000, 1, 2, 3, 4},
      old{"gpu-b", 10, 9, 9, 9, 9};
  const AccountingRow acct{.job = 11,
                           .index = 0,
                           .attempt = 4,
                           .user = "ann",
                           .name = "job11",
                           .node = "gpu-b",
                           .state = "succeeded",
                           .exit_code = 3,
                           .submit_ms = 1,
                           .start_ms = 2,
                           .end_ms = 3,
                           .gpus = 3,
                           .milli_cpus = 2500,
                           .cpu_seconds = 12.75,
                           .peak_memory_mib = 4096,
                           .gpu_util = 0.875,
                           .energy_wh = 1.5};
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    StateStore& s = **store;
    s.InsertJob(j);
    s.InsertJob(cleared);
    s.AppendJobHistory(11, 100, "first");
    s.AppendJobHistory(11, 100, "second, same time");
    s.AppendJobHistory(11, 50, "earlier");
    s.UpdatePin(j);
    s.UpdateHold(j);
    s.UpdatePrediction(j);
    s.UpdatePin(cleared);
    s.UpdateHold(cleared);
    cleared.pinned_node.clear();
    cleared.held_ms = 0;
    s.UpdatePin(cleared);
    s.UpdateHold(cleared);
    s.UpsertNode(drained);
    s.UpdateDrain(drained);
    s.UpsertNode(plain);
    s.UpsertUser(ann);
    s.UpsertUser(zed);
    s.UpsertJoinToken(token);
    for (const auto& l : {group, user, gone}) s.UpsertLimit(l);
    s.DeleteLimit("user", "carl");
    s.AppendAudit(audit);
    for (const auto& u : {u1, u2, old}) s.InsertUsage(u);
    s.PruneUsage(100);
    s.InsertAccounting(acct);
    ASSERT_TRUE(s.Flush().ok());
    EXPECT_EQ(s.FailedWrites(), 0u) << s.LastWriteError().message();
  }
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 2u);
  const JobRecord& got = c->jobs[0];
  EXPECT_EQ(got.id, 11);
  EXPECT_EQ(got.state, JobState::kRunning);
  EXPECT_EQ(got.submit_ms, j.submit_ms);
  EXPECT_EQ(got.start_ms, j.start_ms);
  EXPECT_EQ(got.end_ms, j.end_ms);
  EXPECT_EQ(got.reason, j.reason);
  ASSERT_EQ(got.tasks.size(), 2u);
  const TaskRecord& t = got.tasks[0];
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.attempt, 4);
  EXPECT_EQ(t.node, "gpu-b");
  EXPECT_EQ(t.gpus, (std::vector<int>{1, 3, 7}));
  EXPECT_EQ(t.exit_code, -9);
  EXPECT_EQ(t.retries, 2);
  EXPECT_EQ(t.lost_requeues, 1);
  EXPECT_EQ(t.start_ms, j.tasks[0].start_ms);
  EXPECT_EQ(t.end_ms, j.tasks[0].end_ms);
  EXPECT_EQ(t.message, "killed");
  EXPECT_EQ(t.progress, j.tasks[0].progress);
  EXPECT_EQ(t.peak_memory_mib, 1234);
  EXPECT_FLOAT_EQ(t.cpu_seconds, 2.5f);
  EXPECT_EQ(got.tasks[1].state, TaskState::kPending);
  EXPECT_EQ(got.history,
            (std::vector<std::string>{"earlier", "first", "second, same time"}));  // by time
  EXPECT_EQ(got.pinned_node, "gpu-b");
  EXPECT_EQ(got.migrate_reason, j.migrate_reason);
  EXPECT_EQ(got.pin_expires_ms, 99'000);
  EXPECT_EQ(got.held_by, "ann");
  EXPECT_EQ(got.held_ms, 55);
  EXPECT_EQ(got.submit_prediction.made_ms, 10);
  EXPECT_EQ(got.submit_prediction.start_ms, 20);
  EXPECT_EQ(got.submit_prediction.finish_ms, 30);
  EXPECT_EQ(got.submit_prediction.low_s, 0.125);  // exact, not rounded through text
  EXPECT_EQ(got.submit_prediction.high_s, 1e9 + 0.5);
  EXPECT_EQ(c->jobs[1].pinned_node, "");
  EXPECT_EQ(c->jobs[1].held_ms, 0);
  EXPECT_EQ(c->jobs[1].submit_prediction.made_ms, 0);
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].spec.name, "A-node");  // by name, as bytes
  EXPECT_FALSE(c->nodes[0].Drained());
  EXPECT_EQ(c->nodes[1].spec.name, "gpu-b");
  EXPECT_EQ(c->nodes[1].spec.milli_cpus, 64000);
  EXPECT_EQ(c->nodes[1].spec.memory_mib, 512000);
  EXPECT_EQ(c->nodes[1].address, "10.0.0.2");
  EXPECT_EQ(c->nodes[1].last_seen_ms, 42);
  EXPECT_EQ(c->nodes[1].drain_reason, "fan");
  EXPECT_EQ(c->nodes[1].drained_by, "ops");
  EXPECT_EQ(c->nodes[1].drain_ms, 77);
  EXPECT_EQ(c->users, (std::vector<UserRecord>{zed, ann}));  // "Z" < "a" as bytes
  EXPECT_EQ(c->join_tokens, (std::vector<JoinTokenRecord>{token}));
  EXPECT_EQ(c->limits, (std::vector<LimitRecord>{group, user}));
  EXPECT_EQ(c->next_job_id, 13);
  EXPECT_EQ(c->epoch, 0);
  auto a = (*store)->LoadAudit(0, "", 0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, (std::vector<AuditRecord>{audit}));
  auto usage = (*store)->LoadUsage(0);
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  ASSERT_EQ(usage->size(), 2u);  // the old row pruned; by time then node
  EXPECT_EQ((*usage)[0].node, "A-node");
  EXPECT_EQ((*usage)[1].node, "gpu-b");
  EXPECT_EQ((*usage)[1].time_ms, 5000);
  EXPECT_EQ((*usage)[1].predicted, 0.5);
  EXPECT_EQ((*usage)[1].measured, -1);
  EXPECT_EQ((*usage)[1].load, 0.25);
  EXPECT_EQ((*usage)[1].cpu_load, 0.75);
  auto accounting = (*store)->LoadAccounting(0, "", 0);
  ASSERT_TRUE(accounting.ok()) << accounting.status().ToString();
  ASSERT_EQ(accounting->size(), 1u);
  const AccountingRow& r = (*accounting)[0];
  EXPECT_EQ(r.job, 11);
  EXPECT_EQ(r.index, 0);
  EXPECT_EQ(r.attempt, 4);
  EXPECT_EQ(r.user, "ann");
  EXPECT_EQ(r.name, "job11");
  EXPECT_EQ(r.node, "gpu-b");
  EXPECT_EQ(r.state, "succeeded");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.submit_ms, 1);
  EXPECT_EQ(r.start_ms, 2);
  EXPECT_EQ(r.end_ms, 3);
  EXPECT_EQ(r.gpus, 3);
  EXPECT_EQ(r.milli_cpus, 2500);
  EXPECT_EQ(r.cpu_seconds, 12.75);
  EXPECT_EQ(r.peak_memory_mib, 4096);
  EXPECT_EQ(r.gpu_util, 0.875);
  EXPECT_EQ(r.energy_wh, 1.5);
}

TEST_P(StoreContract, ADrainIsKeptWithItsNodeUntilItEnds) {
  NodeRecord n;
  n.spec = {.name = "n1", .milli_cpus = 4000, .memory_mib = 8000};
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertNode(n)).ok());
    n.drain_reason = "new PSU";
    n.drained_by = "alice";
    n.drain_ms = 1234;
    ASSERT_TRUE((*store)->Wait((*store)->UpdateDrain(n)).ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertNode(n)).ok());  // a heartbeat's row keeps it
  }
  {
    auto store = OpenStore();
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
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->nodes.size(), 1u);
  EXPECT_FALSE(c->nodes[0].Drained());
  EXPECT_EQ(c->nodes[0].drain_reason, "");
}

TEST_P(StoreContract, ConcurrentWritesAreGroupCommitted) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < kPerThread; ++i) {
        JobId id = th * 1000 + i + 1;
        EXPECT_TRUE((*store)->Wait((*store)->InsertJob(MakeStoreTestJob(id, 1))).ok());
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

TEST_P(StoreContract, RefusesNewerSchema) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  {
    auto store = OpenStore();  // opening a current store again changes nothing
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  backend().SetSchemaVersion(99);  // behind the store's back
  auto store = OpenStore();
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("99"), std::string::npos) << store.status().message();
  EXPECT_EQ(store.status().message().find('\n'), std::string::npos);  // one line
}

TEST_P(StoreContract, AccountingRowsOutliveTheirJobAndAreFilteredByTimeUserAndJob) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  JobRecord j = MakeStoreTestJob(5, 1);
  ASSERT_TRUE((*store)->Wait((*store)->InsertJob(j)).ok());
  AccountingRow a{.job = 5,
                  .index = 0,
                  .attempt = 1,
                  .user = "ann",
                  .name = "train",
                  .node = "n1",
                  .state = "requeued",
                  .exit_code = 0,
                  .submit_ms = 10,
                  .start_ms = 20,
                  .end_ms = 1000,
                  .gpus = 2,
                  .milli_cpus = 1500,
                  .cpu_seconds = 1.5,
                  .peak_memory_mib = 300,
                  .gpu_util = 0.5,
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
  store = OpenStore();
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
  EXPECT_EQ((*store)->LoadAccounting(2000, "", 0)->size(), 2u);  // ended since
  EXPECT_EQ((*store)->LoadAccounting(0, "bob", 0)->size(), 1u);  // of a user
  EXPECT_EQ((*store)->LoadAccounting(0, "", 5)->size(), 2u);     // of a job
  EXPECT_EQ((*store)->LoadAccounting(0, "bob", 5)->size(), 0u);
}

TEST_P(StoreContract, AFailedWriteFailsAloneAndLeavesTheRestOfItsBatchCommitted) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeStoreTestJob(1, 1))).ok());
  backend().Behind("ALTER TABLE job_history RENAME TO job_history_away");
  const uint64_t failed_before = (*store)->FailedWrites();
  // Queued back to back, so that they usually share one transaction.
  auto a = (*store)->InsertJob(MakeStoreTestJob(5, 2));
  auto bad = (*store)->AppendJobHistory(5, 10, "never stored");
  auto b = (*store)->InsertJob(MakeStoreTestJob(6, 1));
  EXPECT_TRUE((*store)->Wait(a).ok());
  Status s = (*store)->Wait(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("job_history"), std::string::npos) << s.message();
  EXPECT_TRUE((*store)->Wait(b).ok());
  EXPECT_EQ((*store)->FailedWrites(), failed_before + 1);
  EXPECT_EQ((*store)->LastWriteError().message(), s.message());
  backend().Behind("ALTER TABLE job_history_away RENAME TO job_history");
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 3u);
  EXPECT_EQ(c->jobs[1].tasks.size(), 2u);
  EXPECT_TRUE(c->jobs[1].history.empty());
}

TEST_P(StoreContract, AnUnreadableRowFailsLoadAllInsteadOfLoadingTheRest) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  for (JobId id = 1; id <= 3; ++id) (*store)->InsertJob(MakeStoreTestJob(id, 1));
  ASSERT_TRUE((*store)->Flush().ok());
  backend().CorruptSpec(2);
  auto c = (*store)->LoadAll();
  ASSERT_FALSE(c.ok()) << "loaded " << c->jobs.size() << " of 3 jobs as if complete";
  EXPECT_NE(c.status().message().find("job 2: unreadable spec"), std::string::npos)
      << c.status().message();
}

// A store upgraded in place from schema 5 keeps its arrays: their specs hold the range as text.
TEST_P(StoreContract, ASpecWrittenWithItsArrayAsTextLoadsAsThatArray) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  (*store)->InsertJob(MakeStoreTestJob(1, 1));
  ASSERT_TRUE((*store)->Flush().ok());
  v1::JobSpec old;
  old.add_command("true");
  old.set_legacy_array("3-12%2");
  std::string hex;
  for (unsigned char c : old.SerializeAsString()) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  backend().SetSpecBytes(1, hex);
  auto c = (*store)->LoadAll();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->jobs.size(), 1u);
  const JobSpec& spec = *c->jobs[0].spec;
  EXPECT_EQ(spec.array.first, 3);
  EXPECT_EQ(spec.array.last, 12);
  EXPECT_EQ(spec.array.throttle, 2);
  ASSERT_EQ(c->jobs[0].tasks.size(), 10u);  // the unstored ones made again, pending
  EXPECT_EQ(c->jobs[0].tasks[9].index, 12);
}

TEST_P(StoreContract, AnUnreadableGpuListFailsLoadAllInsteadOfEndingTheProcess) {
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  JobRecord j = MakeStoreTestJob(1, 1);
  (*store)->InsertJob(j);
  j.tasks[0].state = TaskState::kLaunching;  // a task has its row once it has changed
  j.tasks[0].attempt = 1;
  (*store)->UpdateTask(j.id, j.tasks[0]);
  ASSERT_TRUE((*store)->Flush().ok());
  backend().Behind("UPDATE tasks SET gpus = '0,x' WHERE job = 1");
  auto c = (*store)->LoadAll();
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("task 1.0 has an unreadable GPU list"), std::string::npos)
      << c.status().message();
}

TEST_P(StoreContract, UsersJoinTokensAndTheAuditLogSurviveAReopen) {
  {
    auto store = OpenStore();
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
      (*store)->AppendAudit({1000 + i, i % 2 ? "bob" : "carol", "user", "token", "ipv4:x", "submit",
                             "job " + std::to_string(i), "ok"});
    ASSERT_TRUE((*store)->Flush().ok());
  }
  auto store = OpenStore();
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

TEST_P(StoreContract, JobIdsAreNeverReusedEvenAfterRowsAreGone) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeStoreTestJob(7, 1))).ok());
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeStoreTestJob(3, 1))).ok());
  }
  // The newest job's rows disappear (as retention will remove old ones).
  backend().Behind("DELETE FROM jobs WHERE id = 7; DELETE FROM tasks WHERE job = 7");
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->jobs.size(), 1u);
  EXPECT_EQ(all->next_job_id, 8);  // from the counter, not from the rows left
}

TEST_P(StoreContract, DeleteJobRemovesAllOfItsRowsAndItsIdStaysUsed) {
  JobRecord j = MakeStoreTestJob(9, 2);
  j.pinned_node = "n1";
  j.held_by = "ann";
  j.held_ms = 5;
  j.submit_prediction.made_ms = 3;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok());
    StateStore& s = **store;
    s.InsertJob(MakeStoreTestJob(4, 1));
    s.InsertJob(j);
    s.AppendJobHistory(9, 1, "moved");
    s.UpdatePin(j);
    s.UpdateHold(j);
    s.UpdatePrediction(j);
    ASSERT_TRUE(s.Wait(s.DeleteJob(9)).ok());
  }
  {
    auto store = OpenStore();
    ASSERT_TRUE(store.ok());
    auto all = (*store)->LoadAll();
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->jobs.size(), 1u);
    EXPECT_EQ(all->jobs[0].id, 4);
    EXPECT_EQ(all->next_job_id, 10);  // 9 is never handed out again
    // The same id stored again (a test only: the coordinator never does) starts bare: no task,
    // history, pin, hold or prediction of the deleted job is left behind.
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeStoreTestJob(9, 1))).ok());
  }
  auto store = OpenStore();
  ASSERT_TRUE(store.ok());
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->jobs.size(), 2u);
  const JobRecord& again = all->jobs[1];
  EXPECT_EQ(again.tasks.size(), 1u);
  EXPECT_TRUE(again.history.empty());
  EXPECT_EQ(again.pinned_node, "");
  EXPECT_EQ(again.held_ms, 0);
  EXPECT_EQ(again.submit_prediction.made_ms, 0);
}

}  // namespace
}  // namespace muster::cluster
