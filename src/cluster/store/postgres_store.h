// PostgresStore: the StateStore (state_store.h) in a PostgreSQL database, through libpq; the same
// contract and meaning as SqliteStore (sqlite_store.h), for a coordinator whose state should live
// on a database server rather than on its own disk.
//
// Schema: SqliteStore's tables and columns, with BIGINT for integers, DOUBLE PRECISION for reals,
// TEXT for text and BYTEA for blobs; audit and job_history have one more column, seq (an identity
// column, SQLite's rowid), that keeps the order they were appended in. Text keys sort as bytes
// (COLLATE "C", as SQLite does) whatever the database's collation. The schema version is the row
// schema_version of table meta (beside next_job_id and epoch).
//
// Migrations: a list of steps, each bringing the schema to its version, applied in order inside
// one transaction that holds a transaction-level advisory lock (pg_advisory_xact_lock), so that
// coordinators opening one fresh database at once do not race: one migrates, the others wait
// and find the schema current. The last step's version is kStoreSchemaVersion (a static_assert
// holds the two stores together). A database with a newer version is refused at Open.
//
// Group commit (write_queue.h), as SqliteStore's: one writer thread takes everything queued (up
// to max_batch writes), runs it in one transaction with prepared statements and commits once;
// a failed batch is rolled back whole and its writes retried one transaction each, so exactly
// the failing writes report failure.
//
// Outages: the store keeps one connection (pg_connection.h). When the server goes away, the
// writes of the batch running fail with kUnavailable ("the state store at HOST:PORT/DB cannot be
// reached: ..."), counted by FailedWrites and kept as LastWriteError; the next batch, and the
// next read, reconnect first (statements are prepared again), so writes resume by themselves
// when the server is back; a connection found dead at BEGIN (the server restarted between two
// batches) is replaced at once. A batch whose COMMIT was cut off may or may not have committed:
// it is reported failed, and the coordinator, read-only until writes succeed again, writes its
// rows again (upserts; an audit or history line may then be stored twice).
//
// Fencing: with StoreOptions::leader_term, every batch first locks the leader row (leadership.h)
// FOR KEY SHARE and checks that its term is still this store's; when it is not, the batch is rolled
// back and all its writes fail with kFailedPrecondition "deposed: ...": the database refuses the
// late writes of a coordinator that is no longer the leader. (Reads are not fenced: a deposed
// leader reads what the new one wrote.) The session's idle_in_transaction_session_timeout is half
// the lease (StoreOptions::leader_lease_ms), so a batch left open by a frozen coordinator cannot
// hold the row lock past it.
//
// Durability: with synchronous_full (the default) a commit returns once the server has flushed
// it (synchronous_commit=on); without, synchronous_commit=off.
//
// Thread-safety: all public methods are thread-safe. Reads wait for the batch being written.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cluster/common/mutex.h"
#include "cluster/store/state_store.h"
#include "cluster/store/store_options.h"
#include "cluster/store/write_queue.h"

namespace muster::cluster {

class PgConnection;

class PostgresStore final : public StateStore {
 public:
  // Connects to `conninfo` (postgres://USER:PASSWORD@HOST:PORT/DB, postgresql://..., or libpq's
  // key=value pairs) and brings the schema up to date. Fails with one line naming the server
  // (never the password) on a malformed conninfo, a server that cannot be reached, a refused
  // login, a database neither UTF8 nor SQL_ASCII, or a schema newer than this muster.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo,
                                                     StoreOptions options = {});
  ~PostgresStore() override;  // commits everything queued, then stops the writer
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  Result<StoreContents> LoadAll() override;
  Ticket InsertJob(const JobRecord& job) override;
  Ticket UpdateJob(const JobRecord& job) override;
  Ticket UpdateTask(JobId job, const TaskRecord& task) override;
  Ticket UpdateProgress(JobId job, int index, std::string progress) override;
  Ticket UpsertNode(const NodeRecord& node) override;
  Ticket UpdateDrain(const NodeRecord& node) override;
  Ticket AppendJobHistory(JobId job, TimeMs time_ms, const std::string& text) override;
  Ticket UpdatePin(const JobRecord& job) override;
  Ticket UpdateHold(const JobRecord& job) override;
  Ticket UpdatePrediction(const JobRecord& job) override;
  Ticket UpsertUser(const UserRecord& user) override;
  Ticket DeleteUser(const std::string& name) override;
  Ticket DeleteJob(JobId job) override;
  Ticket UpsertJoinToken(const JoinTokenRecord& token) override;
  Ticket DeleteJoinToken(const std::string& hash) override;
  Ticket AppendAudit(const AuditRecord& record) override;
  Result<std::vector<AuditRecord>> LoadAudit(TimeMs since_ms, const std::string& identity,
                                             int limit) override;
  Ticket InsertUsage(const UsageRow& row) override;
  Ticket PruneUsage(TimeMs before_ms) override;
  Result<std::vector<UsageRow>> LoadUsage(TimeMs since_ms) override;
  Ticket UpsertLimit(const LimitRecord& limit) override;
  Ticket DeleteLimit(const std::string& kind, const std::string& name) override;
  Ticket InsertAccounting(const AccountingRow& row) override;
  Result<std::vector<AccountingRow>> LoadAccounting(TimeMs since_ms, const std::string& user,
                                                    JobId job) override;
  Status Wait(Ticket t) override;
  Status Flush() override;
  uint64_t CommittedBatches() const override;
  uint64_t FailedWrites() const override;
  Status LastWriteError() const override;

  // HOST:PORT/DB of the server, without credentials.
  const std::string& where() const { return where_; }

 private:
  using Write = WriteQueue<PgConnection>::Write;
  PostgresStore(std::unique_ptr<PgConnection> conn, StoreOptions options);
  Ticket Enqueue(Write write) { return queue_.Enqueue(std::move(write)); }
  // The writer thread's RunBatch: `writes` in one transaction, all committed or none.
  Status CommitBatch(std::span<Write> writes) EXCLUDES(conn_mu_);
  // Ok when the leader row, locked FOR KEY SHARE in the open transaction, holds leader_term_.
  Status CheckTerm(PgConnection& c);
  // Runs `read` on the connection, reconnecting first if it was lost, and once more if it is
  // lost during the read (a read can be repeated; a write cannot).
  template <typename T, typename Read>
  Result<T> WithConnection(Read&& read) EXCLUDES(conn_mu_);
  Result<StoreContents> LoadAllOn(PgConnection& c);

  const std::string where_;
  const int64_t leader_term_;  // 0 = not fenced
  Mutex conn_mu_;
  std::unique_ptr<PgConnection> conn_ PT_GUARDED_BY(conn_mu_);  // the writer's and the readers'
  WriteQueue<PgConnection> queue_;  // after conn_: its writer stops before the connection closes
};

}  // namespace muster::cluster
