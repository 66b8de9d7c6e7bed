// Durable state of the coordinator: jobs, tasks and nodes in SQLite (WAL mode).
//
// Schema (version 1, kept in PRAGMA user_version):
//   jobs(id INTEGER PRIMARY KEY, spec BLOB  -- serialized muster.v1.JobSpec,
//        state TEXT, submit_ms, start_ms, end_ms INTEGER, reason TEXT)
//   tasks(job, idx INTEGER, state TEXT, attempt, node TEXT, gpus TEXT -- "0,1",
//         exit_code, retries, lost_requeues, start_ms, end_ms INTEGER, message TEXT,
//         progress BLOB -- serialized muster.v1.Progress; PRIMARY KEY(job, idx)) WITHOUT ROWID
//   nodes(name TEXT PRIMARY KEY, spec BLOB -- serialized muster.v1.NodeSpec with address,
//         last_seen_ms INTEGER)
//   job_history(job INTEGER, time_ms INTEGER, text TEXT)       -- JobRecord::history
//   usage_history(node TEXT, time_ms INTEGER, predicted, measured, load, cpu_load REAL)
//         -- the balancer's downsampled load per node (one row per node per interval, pruned)
//   job_pins(job INTEGER PRIMARY KEY, node TEXT, migrate_reason TEXT, expires_ms INTEGER)
//         -- a balancer pin / migration in progress, so a restart keeps it
// The last three tables were added without a version change (CREATE TABLE IF NOT EXISTS).
//
// Group commit: every write is queued to one writer thread, which takes everything queued so far
// (up to max_batch writes), runs it inside one transaction with cached prepared statements and
// commits once. A caller that needs durability waits for its ticket (Wait); others go on. Writes
// are applied in the order they were queued, so a caller that queues under its own lock gets the
// database to follow its in-memory order. With synchronous=FULL a committed batch survives power
// loss; NORMAL survives a crash of the process (kill -9) only.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/coordinator/records.h"
#include "core/status.h"

struct sqlite3;

namespace muster::cluster {

inline constexpr int kStoreSchemaVersion = 1;

struct StoreOptions {
  bool synchronous_full = true;  // false: synchronous=NORMAL (survives process crashes only)
  int max_batch = 4096;          // writes per transaction at most
};

struct StoreContents {
  std::vector<JobRecord> jobs;    // ascending id, tasks in index order
  std::vector<NodeRecord> nodes;  // by name
};

// One downsampled load reading of a node (table usage_history).
struct UsageRow {
  std::string node;
  TimeMs time_ms = 0;
  double predicted = 0;
  double measured = -1;
  double load = 0;
  double cpu_load = 0;
};

class Db;  // the SQLite connection with its statement cache (store.cc)

class Store {
 public:
  using Ticket = uint64_t;

  // Opens (creating if needed) the database file at `path`. Fails on a newer schema version or
  // an unreadable file.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {});
  ~Store();  // commits everything queued, then stops the writer
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Reads all jobs, tasks and nodes (sees every write committed before the call).
  Result<StoreContents> LoadAll();

  // Queue writes; each returns a ticket to Wait on.
  Ticket InsertJob(const JobRecord& job);  // the job row and all of its task rows
  Ticket UpdateJob(const JobRecord& job);  // state, times and reason (the spec never changes)
  Ticket UpdateTask(JobId job, const TaskRecord& task);
  Ticket UpdateProgress(JobId job, int index, std::string progress);
  Ticket UpsertNode(const NodeRecord& node);
  Ticket AppendJobHistory(JobId job, TimeMs time_ms, const std::string& text);
  // The job's balancer pin and migration (pinned_node, migrate_reason, pin_expires_ms); deletes
  // the row when both are empty.
  Ticket UpdatePin(const JobRecord& job);
  Ticket InsertUsage(const UsageRow& row);
  Ticket PruneUsage(TimeMs before_ms);  // deletes usage rows older than this
  // Usage rows with time_ms >= since_ms, by time then node.
  Result<std::vector<UsageRow>> LoadUsage(TimeMs since_ms);

  // Blocks until the write with this ticket is committed; returns its status.
  Status Wait(Ticket t);
  // Blocks until every write queued so far is committed.
  Status Flush();

  // Number of transactions committed so far (to observe batching in tests and benchmarks).
  uint64_t CommittedBatches() const;

 private:
  using WriteFn = std::function<Status(Db&)>;
  explicit Store(std::unique_ptr<Db> db, StoreOptions options);
  Ticket Enqueue(WriteFn fn);
  void WriterLoop();

  StoreOptions options_;
  std::unique_ptr<Db> db_;  // used by the writer thread, and by LoadAll under db_mu_
  std::mutex db_mu_;

  mutable std::mutex mu_;
  std::condition_variable queued_cv_;
  std::condition_variable committed_cv_;
  std::deque<WriteFn> queue_;        // GUARDED_BY(mu_)
  Ticket next_ticket_ = 1;           // GUARDED_BY(mu_): ticket of the next queued write
  Ticket committed_ = 0;             // GUARDED_BY(mu_): all tickets <= this are done
  std::map<Ticket, Status> failed_;  // GUARDED_BY(mu_): failed writes not yet waited on
  uint64_t batches_ = 0;             // GUARDED_BY(mu_)
  bool stopping_ = false;            // GUARDED_BY(mu_)
  std::thread writer_;
};

}  // namespace muster::cluster
