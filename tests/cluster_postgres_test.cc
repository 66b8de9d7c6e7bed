// Integration: a coordinator whose state lives in PostgreSQL (--store postgres://...), on a real
// server this test starts (PostgresTestServer: initdb and pg_ctl in a temporary directory, on
// 127.0.0.1). Jobs are kept through kill -9 and restart, ids are never reused, and a database
// outage shorter than the leader's lease makes the coordinator read-only until the server is
// back, without a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "cluster/store/postgres_test_server.h"
#include "cluster/store/sqlite_store.h"  // kStoreFileName
#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

std::unique_ptr<cluster::PostgresTestServer> StartServer() {
  auto server = cluster::PostgresTestServer::Start();
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// The PostgreSQL server binaries are there (scripts/install-deps installs them).
#define SKIP_WITHOUT_POSTGRES()                                           \
  if (auto bin = cluster::PostgresTestServer::FindBinaries(); !bin.ok()) \
  GTEST_SKIP() << bin.status().message()

TEST(ClusterPostgres, ACoordinatorOnPostgresKeepsEveryJobThroughKillAndRestart) {
  SKIP_WITHOUT_POSTGRES();
  auto db = StartServer();
  ASSERT_NE(db, nullptr);
  // A coordinator killed holds the leadership until its lease runs out: its successor leads then.
  TestCluster cluster(
      {.agents = 1, .coordinator_args = {"--store", db->url(), "--leader-lease", "2s"}});
  ASSERT_EQ(cluster.Start(), "");
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(cluster.Submit({"--", "/bin/true"}));
  for (int64_t id : ids) EXPECT_EQ(cluster.WaitForJob(id, 30s).state(), v1::JOB_STATE_SUCCEEDED) << id;
  // The jobs are rows in PostgreSQL, and no SQLite file was made beside them.
  auto value = [&](const std::string& sql) {
    auto v = db->QueryValue(sql);
    return v.ok() ? *v : v.status().ToString();
  };
  EXPECT_EQ(value("SELECT count(*) FROM jobs"), "10");
  EXPECT_EQ(value("SELECT count(*) FROM tasks WHERE state = 'succeeded'"), "10");
  EXPECT_FALSE(std::filesystem::exists(cluster.state_dir() / cluster::kStoreFileName));
  // The coordinator's whole log names the store, without its password.
  const std::string log = ReadFile(cluster.dir() / "coordinator.err");
  EXPECT_NE(log.find("state loaded from postgres://muster@127.0.0.1:"), std::string::npos) << log;
  EXPECT_EQ(log.find(db->password()), std::string::npos) << "the password was logged";

  cluster.KillCoordinator(SIGKILL);
  ASSERT_EQ(cluster.StartCoordinator(), "");
  for (int64_t id : ids) EXPECT_EQ(cluster.WaitForJob(id, 10s).state(), v1::JOB_STATE_SUCCEEDED) << id;
  const int64_t next = cluster.Submit({"--", "/bin/true"});
  EXPECT_GT(next, ids.back()) << "a job id was handed out twice";
  EXPECT_EQ(cluster.WaitForJob(next, 30s).state(), v1::JOB_STATE_SUCCEEDED);
  // A backup of this coordinator is the database's own business: one clear line.
  CommandResult backup =
      cluster.Muster({"admin", "backup", (cluster.dir() / "backup.db").string()});
  EXPECT_NE(backup.exit_code, 0);
  EXPECT_NE(backup.err.find("pg_dump"), std::string::npos) << backup.err;
  EXPECT_EQ(backup.err.find(db->password()), std::string::npos) << backup.err;
}

TEST(ClusterPostgres, ADatabaseOutageMakesTheCoordinatorReadOnlyUntilTheServerIsBack) {
  SKIP_WITHOUT_POSTGRES();
  auto db = StartServer();
  ASSERT_NE(db, nullptr);
  // A lease longer than the outage: the coordinator keeps leading, read-only, and resumes. (With
  // an outage longer than 3/4 of it, it would step down and lead again once the database is
  // back: cluster_failover_test.)
  TestCluster cluster(
      {.agents = 1, .coordinator_args = {"--store", db->url(), "--leader-lease", "20s"}});
  ASSERT_EQ(cluster.Start(), "");
  const int64_t before = cluster.Submit({"--", "/bin/true"});
  ASSERT_GT(before, 0);
  ASSERT_EQ(cluster.WaitForJob(before, 30s).state(), v1::JOB_STATE_SUCCEEDED);

  ASSERT_TRUE(db->Kill().ok());
  CommandResult refused;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {  // the first failing write may be the submission's own; then the coordinator says why
    refused = cluster.Muster({"submit", "--", "/bin/true"});
    if (refused.err.find("read-only") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("the coordinator is read-only: its state store cannot write"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(refused.err.find(db->password()), std::string::npos) << refused.err;
  // Reads go on from memory, and say why.
  CommandResult queue = cluster.Muster({"queue", "-a"});
  EXPECT_EQ(queue.exit_code, 0) << queue.err;
  EXPECT_NE(queue.out.find(std::to_string(before)), std::string::npos) << queue.out;
  EXPECT_NE(queue.err.find("warning: the coordinator is read-only"), std::string::npos)
      << queue.err;

  // The server is back: the coordinator reconnects and takes changes again by itself.
  ASSERT_TRUE(db->Restart().ok());
  CommandResult again;
  deadline = std::chrono::steady_clock::now() + 30s;
  do {
    std::this_thread::sleep_for(200ms);
    again = cluster.Muster({"submit", "-q", "--", "/bin/true"});
  } while (again.exit_code != 0 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(again.exit_code, 0) << again.err << cluster.LogTails();
  const int64_t after = std::stoll(again.out);
  EXPECT_GT(after, before);
  EXPECT_EQ(cluster.WaitForJob(after, 30s).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(cluster.Muster({"queue"}).err.find("read-only"), std::string::npos);
  // Both are in the database, as the coordinator has them (a clean stop resigns the lease, so
  // that the next coordinator leads at once).
  cluster.KillCoordinator(SIGTERM);
  ASSERT_EQ(cluster.StartCoordinator(), "");
  EXPECT_EQ(cluster.WaitForJob(before, 10s).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(cluster.WaitForJob(after, 10s).state(), v1::JOB_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace muster::testing
