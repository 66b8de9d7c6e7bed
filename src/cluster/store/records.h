// The coordinator's records of jobs, tasks and nodes: what the store persists and what the
// in-memory state (coordinator.h) holds. Persisted fields come first in each struct; the fields
// after "runtime only" are rebuilt after a restart and never written.
//
// Conventions:
//   * Times are wall-clock milliseconds since the Unix epoch (0 = not yet).
//   * TaskRecord::gpus holds positions in the node's NodeSpec::gpus list (as sched::Placement).
//   * A task in kFailed is final: a retried task goes straight back to kPending, so a stored
//     kFailed never retries again. kLost is transient in the same way.
#pragma once

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/index_set.h"
#include "core/job.h"
#include "core/node.h"

namespace muster::cluster {

struct TaskRecord {
  int index = 0;
  TaskState state = TaskState::kPending;
  Attempt attempt = 0;    // of the latest launch; 0 = never launched
  std::string node;       // node of the latest launch
  std::vector<int> gpus;  // positions in that node's GPU list
  int exit_code = 0;
  int retries = 0;        // failures retried (counts against JobSpec::max_retries)
  int lost_requeues = 0;  // node losses requeued (separate budget, see coordinator.h)
  // What the latest attempt's cgroup measured when it ended: 0 / < 0 = not measured.
  int32_t peak_memory_mib = 0;
  float cpu_seconds = -1;
  // (runtime only; here, beside the ints, so that the record has no padding: 232 bytes)
  bool stop_requested = false;  // Kill sent; the task holds its resources until it ends
  bool migrating = false;       // stopped by the balancer: requeued, not counted as a failure
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  std::string message;
  std::string progress;  // serialized muster.v1.Progress; "" = none yet

  // runtime only
  // > 0 (monotonic clock): the agent must confirm the task by then — a launch not yet
  // acknowledged, or a task its re-registered agent did not list.
  TimeMs confirm_deadline_ms = 0;
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  TimeMs progress_persisted_ms = 0;
  Attempt log_attempt = 0;         // the attempt log_bytes counts
  int64_t log_bytes[2] = {0, 0};   // stdout, stderr bytes stored for it

  // Launching or running: holds resources on `node`.
  bool Active() const { return state == TaskState::kLaunching || state == TaskState::kRunning; }
  // Succeeded, cancelled, or failed for good.
  bool Done() const {
    return state == TaskState::kSucceeded || state == TaskState::kCancelled ||
           state == TaskState::kFailed || state == TaskState::kTimeout || state == TaskState::kOom;
  }
};

struct JobRecord {
  JobId id = 0;
  std::shared_ptr<const JobSpec> spec;
  JobState state = JobState::kPending;
  TimeMs submit_ms = 0;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  std::string reason;                // why pending, or why it failed/was cancelled
  std::vector<TaskRecord> tasks;     // tasks[i] has index spec->TaskIndex(i)
  std::vector<std::string> history;  // notable events, oldest first (table job_history)
  // Balancer state (table job_pins): schedule only on pinned_node until the job starts; while
  // migrate_reason is set ("migrated to X: why") its tasks are being stopped for a migration.
  std::string pinned_node;
  std::string migrate_reason;
  TimeMs pin_expires_ms = 0;
  // Hold (table job_holds): none of its tasks starts until it is released.
  std::string held_by;
  TimeMs held_ms = 0;  // 0 = not held
  // What the first prediction pass after submit predicted (table job_predictions): its start and
  // finish, and the interval of one task's run time (the calibrator's, 90%). made_ms 0 = none yet.
  struct SubmitPrediction {
    TimeMs made_ms = 0, start_ms = 0, finish_ms = 0;
    double low_s = 0, high_s = 0;
    // Not stored: how the interval was made, for the adaptive coverage (model::Prediction's
    // fields); a job submitted before a restart is not scored (interval_scale 0).
    double run_s = 0;
    double interval_scale = 0;
    bool log_interval = true;
  };
  SubmitPrediction submit_prediction;

  // runtime only
  // Kept by JobTable on every task state change (never assign TaskRecord::state elsewhere):
  // task counts by state and the indices of pending and active tasks, so that reconciling a job
  // and building the scheduler's queue cost O(change), not O(tasks).
  struct Counts {
    // failed counts kFailed and kOom; oom counts kOom alone.
    int pending = 0, active = 0, succeeded = 0, failed = 0, timeout = 0, oom = 0, done = 0;
    bool operator==(const Counts&) const = default;
  };
  Counts counts;
  IndexSet pending_tasks;  // runs of indices: an array's pending tasks cost a few bytes in all
  std::set<int> active_tasks;
  bool gang_stopping = false;       // a rank ended badly; waiting for the others to stop
  bool gang_stop_was_loss = false;  // that rank was lost with its node (not a task failure)
  bool gang_stop_was_timeout = false;  // that rank reached its time limit
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  // Service of its ended attempts (kept at each end, rebuilt from the accounting rows on
  // restart; preemption.cc): GPUs x ms run, for las; ms run by attempts that were requeued, for
  // srtf's time left of a checkpointable job (it resumes).
  int64_t attained_gpu_ms = 0;
  DurationMs resumable_ms = 0;
  // The last prediction written to the history, and how many re-predictions were (bounded).
  TimeMs logged_start_ms = 0, logged_finish_ms = 0;
  int logged_repredictions = 0;
};

// Arrays are stored compactly: a task still as it was submitted (pending, never launched, nothing
// recorded) has no row of its own; the stores write a task's row at its first change and make the
// missing ones again when they load (FillUnstoredTasks). A million-task array is one job row.
inline bool IsAsSubmitted(const TaskRecord& t) {
  return t.state == TaskState::kPending && t.attempt == 0 && t.node.empty() && t.gpus.empty() &&
         t.exit_code == 0 && t.retries == 0 && t.lost_requeues == 0 && t.start_ms == 0 &&
         t.end_ms == 0 && t.message.empty() && t.progress.empty() && t.peak_memory_mib == 0 &&
         t.cpu_seconds < 0;
}

// Gives a loaded job every task its spec has: the stored ones (by index, in order), and the
// rest as submitted. Stored tasks of an index the spec does not have are kept, after the others.
inline void FillUnstoredTasks(JobRecord& j) {
  const int n = j.spec->TaskCount();
  if (j.tasks.size() == static_cast<size_t>(n)) return;
  std::vector<TaskRecord> stored = std::move(j.tasks);
  auto by_index = [](const TaskRecord& a, const TaskRecord& b) { return a.index < b.index; };
  if (!std::is_sorted(stored.begin(), stored.end(), by_index))  // the stores load in order
    std::sort(stored.begin(), stored.end(), by_index);
  j.tasks.clear();
  j.tasks.reserve(static_cast<size_t>(n));
  std::vector<bool> used(stored.size(), false);
  size_t at = 0;
  for (int i = 0; i < n; ++i) {
    const int index = j.spec->TaskIndex(i);
    while (at < stored.size() && stored[at].index < index) ++at;
    if (at < stored.size() && stored[at].index == index) {
      used[at] = true;
      j.tasks.push_back(std::move(stored[at++]));
    } else {
      TaskRecord t;
      t.index = index;
      j.tasks.push_back(std::move(t));
    }
  }
  for (size_t k = 0; k < stored.size(); ++k)
    if (!used[k]) j.tasks.push_back(std::move(stored[k]));
}

struct NodeRecord {
  NodeSpec spec;
  std::string address;  // host for MASTER_ADDR
  TimeMs last_seen_ms = 0;
  // Drain (table node_drains): no new tasks start on the node while drain_ms > 0.
  std::string drain_reason;
  std::string drained_by;
  TimeMs drain_ms = 0;  // wall time the drain began; 0 = not drained
  bool Drained() const { return drain_ms > 0; }
};

// A user of the cluster with a bearer token (table users). Only the token's hash is kept; the
// token itself is shown once, when it is made.
struct UserRecord {
  std::string name;
  std::string role;        // access.h RoleName
  std::string token_hash;  // hex SHA-256 of the token
  TimeMs created_ms = 0;
  std::string cert_fp;     // hex SHA-256 of the user's client certificate; "" = none
  bool operator==(const UserRecord&) const = default;
};

// An unused one-time join token (identity.h): only its SHA-256 is kept.
// A resource limit of a user or a Unix group (table limits): what its running tasks may hold at
// once, summed over its jobs. 0 = no limit of that kind.
struct LimitRecord {
  std::string kind;  // "user" or "group"
  std::string name;
  int max_gpus = 0;
  MilliCpu max_milli_cpus = 0;
  int max_jobs = 0;  // jobs running at once
  std::string set_by;
  TimeMs set_ms = 0;
  bool operator==(const LimitRecord&) const = default;
};

struct JoinTokenRecord {
  std::string hash;
  std::string node;     // "" = any name
  TimeMs expires_ms = 0;  // wall time
  bool operator==(const JoinTokenRecord&) const = default;
};

// One line of the audit log (table audit, append-only): a mutating call, or any refused call.
struct AuditRecord {
  TimeMs time_ms = 0;
  std::string identity;  // who, as the credential named them
  std::string role;
  std::string via;       // "local uid 1000", "token", "internal"
  std::string peer;      // where the call came from
  std::string action;    // "submit", "cancel", "user add", "register", "migrate", ...
  std::string target;    // "job 12", "user alice", "node node7"
  std::string result;    // "ok", or the refusal / error line
  bool operator==(const AuditRecord&) const = default;
};

}  // namespace muster::cluster
