// The coordinator's durable state behind one interface: jobs, tasks, nodes, job history, balancer
// pins and usage history. The coordinator speaks only to StateStore; SqliteStore
// (sqlite_store.h) is the embedded default, PostgresStore (postgres_store.h) keeps the same
// tables on a PostgreSQL server (open_store.h picks one from a URL), and MemoryStore
// (memory_store.h) serves tests, with injectable failures, so that every store-failure branch
// of the coordinator can be reached. The durable two share their group commit (write_queue.h).
//
// Contract of every implementation:
//   * Writes are queued and applied in the order they were queued; each returns a ticket. A
//     caller that needs durability waits for its ticket (Wait) and learns that write's status;
//     others go on. A caller that queues under its own lock gets the store to follow its
//     in-memory order.
//   * A write whose ticket Wait answered ok survives a crash of the process.
//   * LoadAll sees every write committed before the call, and fails (never returns a partial
//     result) when a stored row cannot be read.
//   * All methods are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/store/records.h"
#include "core/status.h"

namespace muster::cluster {

// 2: users.cert_fp; 3: tasks.peak_mib, cpu_s; 4: job_predictions; 5: a task as submitted has no
// row (records.h FillUnstoredTasks: a muster before 5 would load such a job without its tasks);
// 6: specs hold an array range as numbers (stored_spec.h: a muster before 6 would load an array
// as a single task; older specs are still read).
// Both durable stores know it: a new version needs SqliteStore's upgrade and a PostgresStore
// migration step (a static_assert).
inline constexpr int kStoreSchemaVersion = 6;

struct StoreContents {
  std::vector<JobRecord> jobs;    // ascending id, tasks in index order
  std::vector<NodeRecord> nodes;  // by name
  std::vector<UserRecord> users;  // by name
  std::vector<JoinTokenRecord> join_tokens;  // unused, by hash
  std::vector<LimitRecord> limits;           // by kind, name
  // Above every job id ever stored, deleted jobs included (table meta): ids are never reused.
  JobId next_job_id = 1;
  // How many times this state was restored from a backup (table meta; backup.h). A restored
  // coordinator's new job ids and attempt numbers start above what any earlier epoch could have
  // handed out after the backup was taken (kEpochJobIdBase, kEpochAttemptBase).
  int64_t epoch = 0;
};

inline constexpr int64_t kEpochJobIdBase = 1'000'000'000'000;  // job ids of epoch e: > e x this
inline constexpr int64_t kEpochAttemptBase = 1'000'000;         // new attempts of epoch e: > e x this

// One downsampled load reading of a node (table usage_history).
struct UsageRow {
  std::string node;
  TimeMs time_ms = 0;
  double predicted = 0;
  double measured = -1;
  double load = 0;
  double cpu_load = 0;
};

// One ended attempt of a task, for accounting (`muster acct`). Self-contained (the job's owner
// and name are copied in), so it outlives the job's removal by retention or garbage collection.
struct AccountingRow {
  JobId job = 0;
  int index = 0;
  Attempt attempt = 0;
  std::string user, name, node;
  std::string state;  // how the attempt ended: a task state's name, or "requeued"
  int exit_code = 0;
  TimeMs submit_ms = 0, start_ms = 0, end_ms = 0;  // start 0: it never ran
  int gpus = 0;
  MilliCpu milli_cpus = 0;
  double cpu_seconds = -1;   // measured by its cgroup; < 0 = not measured
  int64_t peak_memory_mib = 0;  // 0 = not measured
  double gpu_util = -1;      // mean over its GPUs and the heartbeats; < 0 = not measured
  double energy_wh = -1;     // its GPUs' power over its run; < 0 = not measured
};

class StateStore {
 public:
  using Ticket = uint64_t;

  virtual ~StateStore() = default;

  // Reads all jobs, tasks and nodes.
  virtual Result<StoreContents> LoadAll() = 0;

  // Queue writes; each returns a ticket to Wait on.
  virtual Ticket InsertJob(const JobRecord& job) = 0;  // the job row and all of its task rows
  virtual Ticket UpdateJob(const JobRecord& job) = 0;  // state, times, reason (never the spec)
  virtual Ticket UpdateTask(JobId job, const TaskRecord& task) = 0;
  virtual Ticket UpdateProgress(JobId job, int index, std::string progress) = 0;
  virtual Ticket UpsertNode(const NodeRecord& node) = 0;
  // The node's drain (drain_reason, drained_by, drain_ms); deletes it when drain_ms is 0.
  virtual Ticket UpdateDrain(const NodeRecord& node) = 0;
  virtual Ticket AppendJobHistory(JobId job, TimeMs time_ms, const std::string& text) = 0;
  // The job's balancer pin and migration (pinned_node, migrate_reason, pin_expires_ms); deletes
  // the row when both are empty.
  virtual Ticket UpdatePin(const JobRecord& job) = 0;
  // The job's hold (held_by, held_ms); deletes it when held_ms is 0.
  virtual Ticket UpdateHold(const JobRecord& job) = 0;
  // The job's prediction made at submit (submit_prediction).
  virtual Ticket UpdatePrediction(const JobRecord& job) = 0;
  // Adds or replaces the user of that name; DeleteUser removes it (a missing name is no error).
  virtual Ticket UpsertUser(const UserRecord& user) = 0;
  virtual Ticket DeleteUser(const std::string& name) = 0;
  // Adds an unused join token; DeleteJoinToken removes it (used, or expired).
  virtual Ticket UpsertJoinToken(const JoinTokenRecord& token) = 0;
  virtual Ticket DeleteJoinToken(const std::string& hash) = 0;
  // Removes a finished job: its row, its tasks, its history and its pin (retention). Its id is
  // never handed out again (next_job_id stays above it).
  virtual Ticket DeleteJob(JobId job) = 0;
  // Appends to the audit log; records are never changed or removed by the coordinator.
  virtual Ticket AppendAudit(const AuditRecord& record) = 0;
  // Audit records with time_ms >= since_ms (and of `identity`, unless empty), oldest first; the
  // newest `limit` of them when limit > 0.
  virtual Result<std::vector<AuditRecord>> LoadAudit(TimeMs since_ms, const std::string& identity,
                                                     int limit) = 0;
  virtual Ticket InsertUsage(const UsageRow& row) = 0;
  virtual Ticket PruneUsage(TimeMs before_ms) = 0;  // deletes usage rows older than this
  // Usage rows with time_ms >= since_ms, by time then node.
  virtual Result<std::vector<UsageRow>> LoadUsage(TimeMs since_ms) = 0;
  virtual Ticket UpsertLimit(const LimitRecord& limit) = 0;
  virtual Ticket DeleteLimit(const std::string& kind, const std::string& name) = 0;
  virtual Ticket InsertAccounting(const AccountingRow& row) = 0;
  // Accounting rows that ended at or after since_ms, of `user` and of job `job` unless empty / 0,
  // by job, task, attempt.
  virtual Result<std::vector<AccountingRow>> LoadAccounting(TimeMs since_ms, const std::string& user,
                                                            JobId job) = 0;

  // Blocks until the write with this ticket is committed; returns its status.
  virtual Status Wait(Ticket t) = 0;
  // Blocks until every write queued so far is committed.
  virtual Status Flush() = 0;

  // Number of transactions committed so far (to observe batching in tests and benchmarks).
  virtual uint64_t CommittedBatches() const = 0;
  // Writes that failed so far (whether or not anyone waited on them), and the latest failure:
  // how the coordinator notices that the store cannot write (a full disk, an I/O error).
  virtual uint64_t FailedWrites() const = 0;
  virtual Status LastWriteError() const = 0;
};

}  // namespace muster::cluster
