// SqliteStore: the StateStore (state_store.h) in one SQLite file, WAL mode; the embedded default.
//
// Schema (version 5, kept in PRAGMA user_version; 2 added users.cert_fp, 3 tasks.peak_mib and
// tasks.cpu_s, 4 job_predictions, 5 no rows for tasks as submitted, see records.h):
//   jobs(id INTEGER PRIMARY KEY, spec BLOB  -- serialized muster.v1.JobSpec,
//        state TEXT, submit_ms, start_ms, end_ms INTEGER, reason TEXT)
//   tasks(job, idx INTEGER, state TEXT, attempt, node TEXT, gpus TEXT -- "0,1",
//         exit_code, retries, lost_requeues, start_ms, end_ms INTEGER, message TEXT,
//         progress BLOB -- serialized muster.v1.Progress, peak_mib INTEGER, cpu_s REAL -- what
//         the latest attempt's cgroup measured; PRIMARY KEY(job, idx)) WITHOUT ROWID
//   nodes(name TEXT PRIMARY KEY, spec BLOB -- serialized muster.v1.NodeSpec with address,
//         last_seen_ms INTEGER)
//   job_history(job INTEGER, time_ms INTEGER, text TEXT)       -- JobRecord::history
//   usage_history(node TEXT, time_ms INTEGER, predicted, measured, load, cpu_load REAL)
//         -- the balancer's downsampled load per node (one row per node per interval, pruned)
//   job_pins(job INTEGER PRIMARY KEY, node TEXT, migrate_reason TEXT, expires_ms INTEGER)
//         -- a balancer pin / migration in progress, so a restart keeps it
//   users(name TEXT PRIMARY KEY, role TEXT, token_hash TEXT, created_ms INTEGER, cert_fp TEXT)
//         -- users with bearer tokens (access.h); only the token's SHA-256 is kept, and the
//            SHA-256 of a user's client certificate
//   audit(time_ms INTEGER, identity, role, via, peer, action, target, result TEXT)
//         -- append-only: mutating calls and refused calls (AuditRecord)
//   meta(key TEXT PRIMARY KEY, value INTEGER)
//         -- next_job_id: above every job id ever inserted, so ids are never reused; epoch: the
//            restores from a backup (backup.h)
//   join_tokens(hash TEXT PRIMARY KEY, node TEXT, expires_ms INTEGER)
//         -- unused one-time join tokens (identity.h), SHA-256 only
//   accounting(job, idx, attempt INTEGER, user, name, node, state TEXT, exit_code, submit_ms,
//         start_ms, end_ms, gpus, milli_cpus INTEGER, cpu_s REAL, peak_mib INTEGER, gpu_util,
//         energy_wh REAL; PRIMARY KEY(job, idx, attempt)) WITHOUT ROWID
//         -- one row per ended attempt (AccountingRow); never removed by the coordinator
//   limits(kind, name TEXT, max_gpus, max_milli_cpus, max_jobs INTEGER, set_by TEXT,
//         set_ms INTEGER; PRIMARY KEY(kind, name)) WITHOUT ROWID  -- LimitRecord
// The tables from job_history on were added without a version change (CREATE TABLE IF NOT
// EXISTS).
//
// Group commit (write_queue.h): every write is queued to one writer thread, which takes
// everything queued so far (up to max_batch writes), runs it inside one transaction with cached
// prepared statements and commits once. If any write of the batch fails, the transaction is rolled
// back whole and each write is retried in a transaction of its own, so a failure is reported for
// exactly the writes that failed and never leaves a half-applied batch. A caller that needs
// durability waits for its ticket (Wait); others go on. Writes are applied in the order they were
// queued, so a caller that queues under its own lock gets the database to follow its in-memory
// order. With synchronous=FULL a committed batch survives power loss; NORMAL survives a crash of
// the process (kill -9) only.
//
// Thread-safety: all public methods are thread-safe.
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

struct sqlite3;

namespace muster::cluster {

inline constexpr const char* kStoreFileName = "state.db";  // what Coordinator opens in state_dir

class Db;  // the SQLite connection with its statement cache (sqlite_store.cc)

class SqliteStore final : public StateStore {
 public:
  // Opens (creating if needed) the database file at `path` and checks its integrity (SQLite's
  // quick_check). Fails, with one line naming the file and what to do, on a newer schema
  // version, a file that is not a database, or a damaged one.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                   StoreOptions options = {});
  ~SqliteStore() override;  // commits everything queued, then stops the writer
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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

 private:
  using Write = WriteQueue<Db>::Write;
  explicit SqliteStore(std::unique_ptr<Db> db, StoreOptions options);
  Ticket Enqueue(Write write) { return queue_.Enqueue(std::move(write)); }
  // The writer thread's RunBatch: `writes` in one transaction, all of them committed or none
  // (rolled back).
  Status CommitBatch(std::span<Write> writes) EXCLUDES(db_mu_);

  Mutex db_mu_;
  std::unique_ptr<Db> db_ PT_GUARDED_BY(db_mu_);  // the writer thread's, and the readers'
  WriteQueue<Db> queue_;  // after db_: its writer stops before the connection closes
};

}  // namespace muster::cluster
