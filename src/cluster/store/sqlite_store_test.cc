#include "cluster/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "cluster/store/store_test_util.h"

namespace muster::cluster {
namespace {

std::string TempDir(const std::string& name) { return StoreTestDir(name); }
JobRecord MakeJob(JobId id, int tasks) { return MakeStoreTestJob(id, tasks); }

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

// Rows in `table` of the store at `path`, read on a second connection.
int64_t CountRows(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return -1;
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &st, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// A task as submitted has no row: a 1,000-task job is one job row, and a task gets its row when
// it first changes.
TEST(SqliteStore, TasksAsSubmittedHaveNoRows) {
  std::string dir = TempDir("compact");
  const std::string path = dir + "/state.db";
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  JobRecord j = MakeJob(1, 1000);
  ASSERT_TRUE((*store)->Wait((*store)->InsertJob(j)).ok());
  EXPECT_EQ(CountRows(path, "jobs"), 1);
  EXPECT_EQ(CountRows(path, "tasks"), 0);
  j.tasks[3].state = TaskState::kLaunching;
  j.tasks[3].attempt = 1;
  ASSERT_TRUE((*store)->Wait((*store)->UpdateTask(j.id, j.tasks[3])).ok());
  EXPECT_EQ(CountRows(path, "tasks"), 1);
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

// The StateStore contract (round trips, group commit, failed writes, ids never reused, a newer
// schema refused, ...) is tested for both durable stores in state_store_contract_test.cc; what
// follows is SQLite's own: the file, its damage, and the in-place migrations.

TEST(SqliteStore, TheFileIsPrivate) {
  std::string dir = TempDir("private");
  const std::string path = dir + "/state.db";
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->UpsertUser({"bob", "admin", "bb", 2, "cc"})).ok());
    (*store)->AppendAudit({1000, "bob", "user", "token", "ipv4:x", "submit", "job 0", "ok"});
    ASSERT_TRUE((*store)->Flush().ok());
  }
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
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
