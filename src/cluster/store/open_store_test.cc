#include "cluster/store/open_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "cluster/store/postgres_store.h"
#include "cluster/store/postgres_test_server.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/store/store_test_util.h"

namespace muster::cluster {
namespace {

TEST(OpenStateStore, NoUrlOrSqliteUrlOpensSqliteWhereItSays) {
  const std::string dir = StoreTestDir("open");
  auto by_default = OpenStateStore("", dir + "/state.db");
  ASSERT_TRUE(by_default.ok()) << by_default.status().message();
  EXPECT_NE(dynamic_cast<SqliteStore*>(by_default->get()), nullptr);
  EXPECT_TRUE(std::filesystem::exists(dir + "/state.db"));
  auto named = OpenStateStore("sqlite://" + dir + "/other.db", dir + "/state.db");
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_NE(dynamic_cast<SqliteStore*>(named->get()), nullptr);
  EXPECT_TRUE(std::filesystem::exists(dir + "/other.db"));
  ASSERT_TRUE((*named)->Wait((*named)->InsertJob(MakeStoreTestJob(1, 1))).ok());
}

TEST(OpenStateStore, AnUnknownUrlIsRefusedWithTheFormsItTakes) {
  for (const std::string url : {"mysql://root:pw@db/m", "state.db", "sqlite://"}) {
    auto store = OpenStateStore(url, "/nonexistent/state.db");
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(store.status().message().find("sqlite://PATH"), std::string::npos)
        << store.status().message();
    EXPECT_EQ(store.status().message().find("pw"), std::string::npos) << store.status().message();
  }
  auto store = OpenStateStore("mysql://root:pw@db/m", "/nonexistent/state.db");
  EXPECT_NE(store.status().message().find("postgres://USER:PASSWORD@HOST:PORT/DB"),
            std::string::npos)
      << store.status().message();
}

TEST(OpenStateStore, PostgresUrlsOpenPostgresStore) {
  if (auto bin = PostgresTestServer::FindBinaries(); !bin.ok())
    GTEST_SKIP() << bin.status().message();
  auto server = PostgresTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().message();
  std::string url = (*server)->url();
  for (const std::string& u : {url, "postgresql" + url.substr(std::string("postgres").size())}) {
    auto store = OpenStateStore(u, "/nonexistent/state.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    EXPECT_NE(dynamic_cast<PostgresStore*>(store->get()), nullptr);
  }
}

TEST(RedactStoreUrl, RemovesPasswordsOnly) {
  EXPECT_EQ(RedactStoreUrl("postgres://ann:s3cret@db.example:5433/muster"),
            "postgres://ann@db.example:5433/muster");
  EXPECT_EQ(RedactStoreUrl("postgresql://ann:p%40ss@db/m?sslmode=require&password=x&a=b"),
            "postgresql://ann@db/m?sslmode=require&a=b");
  EXPECT_EQ(RedactStoreUrl("postgres://db/m?password=x"), "postgres://db/m");
  EXPECT_EQ(RedactStoreUrl("postgres://ann@db:5432/m"), "postgres://ann@db:5432/m");
  EXPECT_EQ(RedactStoreUrl("postgres://[::1]:5432/m"), "postgres://[::1]:5432/m");
  EXPECT_EQ(RedactStoreUrl("host=db user=ann password='a b\\' c' dbname=m"),
            "host=db user=ann dbname=m");
  EXPECT_EQ(RedactStoreUrl("host=db password = plain port=5432"), "host=db port=5432");
  EXPECT_EQ(RedactStoreUrl("sqlite:///var/lib/muster/state.db"),
            "sqlite:///var/lib/muster/state.db");
  EXPECT_EQ(RedactStoreUrl(""), "");
  // libpq reads the user info up to the first '@' before any '/': a password may hold '?'.
  EXPECT_EQ(RedactStoreUrl("postgres://ann:a?b:c@db/m?sslmode=require"),
            "postgres://ann@db/m?sslmode=require");
  EXPECT_EQ(RedactStoreUrl("postgres://db/m?sslpassword=k&sslmode=require"),
            "postgres://db/m?sslmode=require");
  // key=value pairs whose values hold "://" are pairs, not a URI.
  EXPECT_EQ(RedactStoreUrl("host=db password=x application_name=http://x sslpassword='k y'"),
            "host=db application_name=http://x");
}

}  // namespace
}  // namespace muster::cluster
