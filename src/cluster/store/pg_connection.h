// PgConnection: one libpq connection of PostgresStore (postgres_store.h), with binary parameters
// and results, statements prepared once per connection, errors as Status, and reconnection.
//
//   * Statements are prepared (PQprepare) on their first use on a connection and cached by the
//     address of their SQL text (a string literal); values only ever travel as parameters.
//     Reconnect() empties the cache: the next use prepares again on the new session.
//   * Parameters and results are in binary format: integers are int8, reals float8 (exact, no
//     decimal round trip), blobs bytea. Text parameters are made valid UTF-8 without NULs
//     (invalid bytes become U+FFFD): PostgreSQL refuses both, and a write must not fail for a
//     stray byte in a task's message.
//   * Errors: a lost connection (the server went away or restarted, the network is cut: the
//     connection is bad, or SQLSTATE class 08 / 57P) is kUnavailable "the state store at
//     HOST:PORT/DB cannot be reached: <why>"; any other failure of a statement is kInternal
//     "store: <PostgreSQL's message>". Messages are one line and never carry the password.
//
// Thread-safety: none; its owner serializes every call (PostgresStore holds its mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

struct pg_conn;
struct pg_result;

namespace muster::cluster {

// The parameters of one statement, in order ($1, $2, ...).
class PgParams {
 public:
  PgParams& Int(int64_t v);
  PgParams& Real(double v);
  PgParams& Text(std::string_view v);   // made valid UTF-8 without NULs (see above)
  PgParams& Bytes(std::string_view v);  // bytea
  PgParams& NullInt();                  // an int8 NULL

 private:
  friend class PgConnection;
  PgParams& Add(unsigned type, std::string value, bool null = false);
  std::vector<unsigned> types_;  // OIDs
  std::vector<std::string> values_;
  std::vector<bool> null_;
};

// The rows of a query. An accessor of a NULL gives 0 / "", and of a value that does not decode as
// asked (a wrong type or length: a row not as this muster wrote it) gives 0 / "" and makes
// status() fail, so that a reader can refuse the rows instead of using them.
class PgRows {
 public:
  int size() const;
  int64_t Int(int row, int col);
  double Real(int row, int col);
  std::string Text(int row, int col);
  std::string Bytes(int row, int col);
  Status status() const { return error_; }

 private:
  friend class PgConnection;
  explicit PgRows(pg_result* res);
  bool Cell(int row, int col, const char** data, int* len);
  void Fail(int col, const char* why);
  std::shared_ptr<pg_result> res_;
  Status error_;
};

class PgConnection {
 public:
  // Connects with `conninfo` (a postgres:// or postgresql:// URI, or key=value pairs). On failure
  // one line naming the server (never the password): kInvalidArgument for a malformed conninfo,
  // kUnauthenticated when the server refused the login, kUnavailable when it cannot be reached.
  // synchronous_commit false: SET synchronous_commit = off on every session.
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                       bool synchronous_commit);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs SQL without parameters (BEGIN, COMMIT, DDL; several statements in one string).
  Status Exec(const char* sql);
  // Runs a statement that returns no rows / rows. `sql` is a string literal: prepared on its first
  // use on this connection and cached by its address.
  Status Run(const char* sql, const PgParams& params);
  Result<PgRows> Query(const char* sql, const PgParams& params = {});

  // Settings run on this session now and on every session after a reconnect ("SET a = 1; SET
  // b = 2"), beside synchronous_commit.
  Status SetSessionSettings(std::string sql);
  // The connection is gone (the server closed it, or a reconnect failed): Reconnect before use.
  bool lost() const;
  // A new session on the same conninfo (PQreset), its settings again, no statements prepared.
  Status Reconnect();
  // HOST:PORT/DB, without credentials: how messages name the server.
  const std::string& where() const { return where_; }
  int server_version() const;           // PQserverVersion: 150004 for 15.4
  std::string server_encoding() const;  // the database's encoding, "UTF8"

 private:
  PgConnection(pg_conn* conn, std::string where, bool synchronous_commit);
  Status Setup();  // session settings, after every (re)connect
  Result<pg_result*> Execute(const char* sql, const PgParams& params, bool rows);
  Status Failure(pg_result* res);  // the Status of a failed call (res may be null)

  pg_conn* conn_;
  std::string where_;
  bool synchronous_commit_;
  std::string session_settings_;  // SetSessionSettings
  std::unordered_map<const char*, std::string> prepared_;  // SQL text -> statement name
};

// HOST:PORT/DB of a conninfo, without credentials; "" when it does not parse.
std::string PgWhere(const std::string& conninfo);

}  // namespace muster::cluster
