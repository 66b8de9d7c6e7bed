// A GoogleTest fixture whose every test has its own PostgreSQL server (PostgresTestServer), and
// skips, saying what to install, where the server binaries are missing. Tests only.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "cluster/store/postgres_test_server.h"

namespace muster::cluster {

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto bin = PostgresTestServer::FindBinaries(); !bin.ok())
      GTEST_SKIP() << bin.status().message();
    auto server = PostgresTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
  }
  PostgresTestServer& server() { return *server_; }
  const PostgresTestServer& server() const { return *server_; }

 private:
  std::unique_ptr<PostgresTestServer> server_;
};

}  // namespace muster::cluster
