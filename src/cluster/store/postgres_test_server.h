// PostgresTestServer: a throwaway PostgreSQL server for tests of PostgresStore, one per test (or
// per suite), reachable on 127.0.0.1 only.
//
// Start() makes a temporary directory, runs initdb in it (without fsync: the cluster is thrown
// away; the server itself keeps fsync on) and starts the server with pg_ctl on a free TCP port of
// 127.0.0.1, its Unix socket in that directory. PostgreSQL refuses to run as root, so when the
// test runs as root, initdb and pg_ctl run as the Unix user postgres (runuser, or setpriv) and
// the directory is given to it. It then makes a login role with a random password and a
// database owned by it: url() is postgres://muster:PASSWORD@127.0.0.1:PORT/muster.
// The binaries are the newest /usr/lib/postgresql/*/bin (scripts/install-deps installs them).
//
// The destructor always stops the server (pg_ctl stop -m fast, then -m immediate, then SIGKILL
// of the postmaster this object started, by its pid) and removes the directory, also when a
// test failed. A test process killed outright leaves both behind (/tmp/muster_pg_*).
//
// Not a gtest helper (no gtest in here): it is compiled into the store library.
// Thread-safety: none; one test thread drives it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace muster::cluster {

class PostgresTestServer {
 public:
  // The directory of the newest PostgreSQL server binaries (initdb, pg_ctl, postgres), or
  // NotFound saying what to install.
  static Result<std::string> FindBinaries();
  // Makes, starts and prepares a server; one line saying what failed, with the end of its log.
  static Result<std::unique_ptr<PostgresTestServer>> Start();
  ~PostgresTestServer();
  PostgresTestServer(const PostgresTestServer&) = delete;
  PostgresTestServer& operator=(const PostgresTestServer&) = delete;

  // postgres://USER:PASSWORD@127.0.0.1:PORT/DB, for PostgresStore::Open.
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  const std::string& database() const { return database_; }

  // pg_ctl stop -m fast: a clean shutdown.
  Status Stop();
  // pg_ctl stop -m immediate: the server goes away at once, without a shutdown checkpoint (it
  // recovers from its WAL at the next start), as in a crash.
  Status Kill();
  // Starts the stopped server again on the same port and directory.
  Status Restart();
  bool running() const { return running_; }

  // Runs `sql` (several statements allowed) in database `db` ("" = database()) as the superuser,
  // over the Unix socket: what a test does behind a store's back.
  Status Exec(const std::string& sql, const std::string& db = "");
  // The first column of the first row of `sql`, as text ("" when there is no row).
  Result<std::string> QueryValue(const std::string& sql, const std::string& db = "");

 private:
  PostgresTestServer() = default;
  // Runs argv as the server's user, its output appended to dir_/commands.log; its exit status.
  Result<int> RunAsServerUser(const std::vector<std::string>& argv);
  Status StartServer();  // pg_ctl start on port_
  Status StopServer(const char* mode);
  std::string LogTail() const;         // the end of the server's and the commands' logs, one line
  bool PidFileNames(pid_t pid) const;  // data/postmaster.pid holds this pid

  std::string bin_;  // the PostgreSQL binaries
  std::string dir_;  // the temporary directory: data/, the socket, the logs
  bool as_root_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  pid_t postmaster_ = 0;  // the server's pid, once started (from data/postmaster.pid)
  bool running_ = false;
  std::string user_ = "muster", database_ = "muster", password_, url_;
};

}  // namespace muster::cluster
