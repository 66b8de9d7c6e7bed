// PostgresStore's own behaviour: concurrent migrations, the server going away and coming back,
// and what Open says about bad URLs, unreachable servers and refused logins. Each test runs its
// own PostgresTestServer. (The StateStore contract it shares with SqliteStore is tested in
// state_store_contract_test.cc.)
#include "cluster/store/postgres_store.h"

#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "cluster/store/postgres_test_fixture.h"
#include "cluster/store/store_test_util.h"

namespace muster::cluster {
namespace {

class PostgresStoreTest : public PostgresServerTest {
 protected:
  std::string Url(const std::string& password, const std::string& db = "muster") const {
    return "postgres://muster:" + password + "@127.0.0.1:" + std::to_string(server().port()) +
           "/" + db;
  }
  // Where the store's messages say the server is.
  std::string Where() const { return "127.0.0.1:" + std::to_string(server().port()) + "/muster"; }
};

TEST_F(PostgresStoreTest, StoresOpeningOneFreshDatabaseAtOnceAllSucceed) {
  constexpr int kStores = 4;
  std::vector<Result<std::unique_ptr<PostgresStore>>> stores;
  for (int i = 0; i < kStores; ++i) stores.emplace_back(Status::Internal("not opened"));
  std::latch go(kStores);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      stores[i] = PostgresStore::Open(server().url());
    });
  for (auto& t : threads) t.join();
  for (const auto& s : stores) ASSERT_TRUE(s.ok()) << s.status().message();
  auto version = server().QueryValue("SELECT value FROM meta WHERE key = 'schema_version'");
  ASSERT_TRUE(version.ok()) << version.status().message();
  EXPECT_EQ(*version, std::to_string(kStoreSchemaVersion));
  // One schema, shared: what one store commits, another loads.
  ASSERT_TRUE((*stores[0])->Wait((*stores[0])->InsertJob(MakeStoreTestJob(3, 2))).ok());
  auto all = (*stores[kStores - 1])->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->jobs.size(), 1u);
  EXPECT_EQ(all->jobs[0].tasks.size(), 2u);
}

TEST_F(PostgresStoreTest, AnOutageFailsWritesCleanlyAndWritesResumeWhenTheServerIsBack) {
  auto store = PostgresStore::Open(server().url());
  ASSERT_TRUE(store.ok()) << store.status().message();
  PostgresStore& s = **store;
  for (JobId id = 1; id <= 20; ++id) s.InsertJob(MakeStoreTestJob(id, 2));
  ASSERT_TRUE(
      s.Wait(s.AppendAudit({1, "ann", "admin", "token", "x", "submit", "job 1", "ok"})).ok());
  ASSERT_EQ(s.FailedWrites(), 0u);

  ASSERT_TRUE(server().Kill().ok());
  Status lost = s.Wait(s.InsertJob(MakeStoreTestJob(21, 1)));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.code(), StatusCode::kUnavailable) << lost.ToString();
  EXPECT_NE(lost.message().find("the state store at " + Where() + " cannot be reached"),
            std::string::npos)
      << lost.message();
  EXPECT_EQ(lost.message().find(server().password()), std::string::npos) << lost.message();
  EXPECT_EQ(lost.message().find('\n'), std::string::npos) << lost.message();
  // Every write of a batch fails alike, each counted; later batches fail fast (nothing listens).
  const auto t1 = s.UpdateJob(MakeStoreTestJob(1, 2));
  const auto t2 = s.AppendJobHistory(1, 5, "during the outage");
  EXPECT_EQ(s.Wait(t1).code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.Wait(t2).code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.FailedWrites(), 3u);
  EXPECT_EQ(s.LastWriteError().code(), StatusCode::kUnavailable);
  auto down = s.LoadAll();
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();

  ASSERT_TRUE(server().Restart().ok());
  // The same store, not reopened: the next batch reconnects.
  ASSERT_TRUE(s.Wait(s.InsertJob(MakeStoreTestJob(22, 1))).ok()) << s.LastWriteError().message();
  EXPECT_EQ(s.FailedWrites(), 3u);
  auto all = s.LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().message();
  std::vector<JobId> ids;
  for (const auto& j : all->jobs) ids.push_back(j.id);
  std::vector<JobId> want;
  for (JobId id = 1; id <= 20; ++id) want.push_back(id);
  want.push_back(22);  // 21 was refused, so it is not there
  EXPECT_EQ(ids, want);
  EXPECT_EQ(all->jobs[0].tasks.size(), 2u);
  EXPECT_TRUE(all->jobs[0].history.empty());
  auto audit = s.LoadAudit(0, "", 0);
  ASSERT_TRUE(audit.ok()) << audit.status().message();
  EXPECT_EQ(audit->size(), 1u);
}

TEST_F(PostgresStoreTest, AServerRestartBetweenWritesGoesUnnoticed) {
  auto store = PostgresStore::Open(server().url());
  ASSERT_TRUE(store.ok()) << store.status().message();
  PostgresStore& s = **store;
  ASSERT_TRUE(s.Wait(s.InsertJob(MakeStoreTestJob(1, 1))).ok());
  // The connection dies while idle: the next write finds it dead at BEGIN and reconnects.
  ASSERT_TRUE(server().Kill().ok());
  ASSERT_TRUE(server().Restart().ok());
  ASSERT_TRUE(s.Wait(s.InsertJob(MakeStoreTestJob(2, 1))).ok()) << s.LastWriteError().message();
  EXPECT_EQ(s.FailedWrites(), 0u);
  // And a read finds it dead, reconnects and reads.
  ASSERT_TRUE(server().Stop().ok());
  ASSERT_TRUE(server().Restart().ok());
  auto all = s.LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->jobs.size(), 2u);
  ASSERT_TRUE(server().Kill().ok());
  ASSERT_TRUE(server().Restart().ok());
  auto usage = s.LoadUsage(0);
  EXPECT_TRUE(usage.ok()) << usage.status().message();
}

TEST_F(PostgresStoreTest, OpenSaysInOneLineWhatIsWrongWithoutThePassword) {
  auto one_line = [](const Status& s) { return s.message().find('\n') == std::string::npos; };

  auto bad = PostgresStore::Open("postgres://muster:hunter2@127.0.0.1/muster?nosuchoption=1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("not a valid PostgreSQL connection string"),
            std::string::npos)
      << bad.status().message();
  EXPECT_EQ(bad.status().message().find("hunter2"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(one_line(bad.status())) << bad.status().message();
  auto bad_pairs = PostgresStore::Open("host=127.0.0.1 port");
  ASSERT_FALSE(bad_pairs.ok());
  EXPECT_EQ(bad_pairs.status().code(), StatusCode::kInvalidArgument);

  auto refused = PostgresStore::Open(Url("hunter2"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("the state store at " + Where() + " refused the login"),
            std::string::npos)
      << refused.status().message();
  EXPECT_EQ(refused.status().message().find("hunter2"), std::string::npos);
  EXPECT_TRUE(one_line(refused.status())) << refused.status().message();

  auto no_db = PostgresStore::Open(Url(server().password(), "nosuchdb"));
  ASSERT_FALSE(no_db.ok());
  EXPECT_EQ(no_db.status().code(), StatusCode::kFailedPrecondition) << no_db.status().ToString();
  EXPECT_NE(no_db.status().message().find("nosuchdb"), std::string::npos);
  EXPECT_EQ(no_db.status().message().find(server().password()), std::string::npos);

  // A role that may log in but not create the tables.
  ASSERT_TRUE(server()
                  .Exec("REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
                        "CREATE ROLE guest LOGIN PASSWORD 'guest'")
                  .ok());
  auto guest = PostgresStore::Open(
      "postgres://guest:guest@127.0.0.1:" + std::to_string(server().port()) + "/muster");
  ASSERT_FALSE(guest.ok());
  EXPECT_EQ(guest.status().code(), StatusCode::kFailedPrecondition) << guest.status().ToString();
  EXPECT_NE(guest.status().message().find("the state store at " + Where() + " cannot be set up"),
            std::string::npos)
      << guest.status().message();
  EXPECT_TRUE(one_line(guest.status())) << guest.status().message();

  ASSERT_TRUE(server().Stop().ok());  // nothing listens on the port now
  auto down = PostgresStore::Open(server().url());
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().ToString();
  EXPECT_NE(down.status().message().find("the state store at " + Where() + " cannot be reached"),
            std::string::npos)
      << down.status().message();
  EXPECT_EQ(down.status().message().find(server().password()), std::string::npos);
  EXPECT_TRUE(one_line(down.status())) << down.status().message();
}

TEST_F(PostgresStoreTest, KeyValueConninfoAndAsynchronousCommitWork) {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(server().port()) +
                               " user=muster password=" + server().password() + " dbname=muster";
  {
    auto store = PostgresStore::Open(conninfo, {.synchronous_full = false, .max_batch = 2});
    ASSERT_TRUE(store.ok()) << store.status().message();
    EXPECT_EQ((*store)->where(), Where());
    for (JobId id = 1; id <= 9; ++id) (*store)->InsertJob(MakeStoreTestJob(id, 1));
    ASSERT_TRUE((*store)->Flush().ok());
    EXPECT_EQ((*store)->FailedWrites(), 0u);
    EXPECT_GE((*store)->CommittedBatches(), 5u);  // at most 2 writes a transaction
  }
  auto store = PostgresStore::Open(server().url());
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto all = (*store)->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->jobs.size(), 9u);
}

TEST_F(PostgresStoreTest, TextPostgresCannotHoldIsStoredReplacedRatherThanFailingTheWrite) {
  auto store = PostgresStore::Open(server().url());
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string odd(
      "a\0b\xff"
      "c",
      5);  // a NUL and a byte that is not UTF-8
  ASSERT_TRUE((*store)->Wait((*store)->AppendAudit({1, "ann", "", "", "", "submit", odd, ""})).ok())
      << (*store)->LastWriteError().message();
  auto audit = (*store)->LoadAudit(0, "", 0);
  ASSERT_TRUE(audit.ok()) << audit.status().message();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].target,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c");
}

TEST_F(PostgresStoreTest, TheTestServerListensOnLoopbackOnlyAndCleansUpAfterItself) {
  auto listen = server().QueryValue("SHOW listen_addresses", "postgres");
  ASSERT_TRUE(listen.ok()) << listen.status().message();
  EXPECT_EQ(*listen, "127.0.0.1");
  auto dir = server().QueryValue("SHOW data_directory", "postgres");
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  ASSERT_TRUE(std::filesystem::exists(*dir));
  auto other = PostgresTestServer::Start();
  ASSERT_TRUE(other.ok()) << other.status().message();
  auto other_dir = (*other)->QueryValue("SHOW data_directory", "postgres");
  ASSERT_TRUE(other_dir.ok());
  EXPECT_NE(*other_dir, *dir);
  other->reset();  // stops the server, removes its directory
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(*other_dir).parent_path()));
}

}  // namespace
}  // namespace muster::cluster
