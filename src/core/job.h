// Job specifications and the job/task state machine.
//
// A job is decomposed into tasks: a plain job has `tasks` independent tasks (usually 1); a gang
// job has `tasks` ranks that start together or not at all; an array job has one task per index of
// its range, at most `array.throttle` running at once. Dependencies (`after`) gate a job on the
// success of others, so "array -> merge job" expresses decompose -> execute -> merge.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/resources.h"
#include "core/status.h"

namespace muster {

using JobId = int64_t;
// Attempt numbers increase every time a task is (re)launched; stale attempts are ignored.
using Attempt = int64_t;

struct TaskRef {
  JobId job = 0;
  int index = 0;  // array index, or rank of a gang
  bool operator==(const TaskRef&) const = default;
  auto operator<=>(const TaskRef&) const = default;
  std::string ToString() const { return std::to_string(job) + "." + std::to_string(index); }
};

struct ArrayRange {
  int first = 0;
  int last = -1;     // inclusive; last < first means "not an array"
  int throttle = 0;  // max running at once; 0 = unlimited
  bool empty() const { return last < first; }
  int size() const { return empty() ? 0 : last - first + 1; }
};

// Parses "0-999%50", "0-9", "5", and checks the range as CheckArrayRange does. Error names the
// problem.
Result<ArrayRange> ParseArrayRange(const std::string& text);
// A range as received (the wire's ArrayRange): first >= 0, last >= first, at most
// kMaxArrayTasks indices, throttle >= 0 (0 = unlimited). `first`..`last` are 64-bit so that no
// received value wraps before it is checked.
Result<ArrayRange> CheckArrayRange(int64_t first, int64_t last, int64_t throttle);
inline constexpr int kMaxArrayTasks = 1000000;

struct JobSpec {
  std::string name;
  std::string user;
  std::string job_class;  // groups similar jobs for run-time calibration, e.g. "train-cnn"
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::string workdir;

  int tasks = 1;            // for a gang: number of ranks
  bool gang = false;        // all tasks start together or none
  int ranks_per_node = 0;   // gang: exact ranks on each node; 0 = scheduler decides
  ArrayRange array;         // non-empty: one task per index (tasks is ignored)
  std::vector<JobId> after;        // run only if all of these succeeded (afterok)
  std::vector<JobId> after_any;    // run once all of these have ended, however they ended
  std::vector<JobId> after_notok;  // run only if all of these ended without succeeding
  bool singleton = false;  // wait while an earlier job of the same name and user has not ended
  bool hold = false;       // submitted held (JobRecord::held_ms): starts only once released
  int priority = 0;         // higher first under the priority policy
  ResourceRequest resources;  // per task
  // The job gave its memory (--mem): then that is each task's limit, enforced by its cgroup.
  // Without it, resources.memory_mib (the default) is what the scheduler reserves, not a limit.
  bool memory_given = false;
  double est_work = 0;      // abstract work units for the execution-time model; 0 = unknown
  double est_time_s = 0;    // user's estimate of run time in seconds; 0 = unknown
  bool checkpointable = false;
  int max_retries = 0;
  // Most output kept per stream (stdout, stderr) of each attempt: the first and the last half,
  // with a marker line saying how much was dropped between. 0 = the cluster's default.
  MiB log_limit_mib = 0;
  // Wall-clock limit of each attempt: at the limit its task gets SIGTERM (with the stop reason
  // "timeout" in $MUSTER_STOP_REASON_FILE), then SIGKILL after signal_grace_ms, and ends in state
  // timeout. 0 = none (the coordinator may apply the cluster's default and maximum).
  DurationMs time_limit_ms = 0;
  DurationMs signal_grace_ms = 0;  // 0 = 30 s
  bool requeue_on_timeout = false;  // checkpointable: a timeout requeues it, to resume
  // When preemption stops one of its tasks (stop reason "preempt"), that task is cancelled
  // instead of requeued (--on-preempt cancel; Slurm's PreemptMode=CANCEL).
  bool cancel_on_preempt = false;
  // Files (relative to workdir) that get a copy of each task's stdout and stderr, as sbatch's
  // --output / --error: patterns of %j (job id), %t or %a (task index), %A (job id), %x (job
  // name), %u (user), %N (node), %r (attempt), %% ("%"). "" = none; an error pattern left empty
  // with an output pattern given sends stderr to the output file too.
  std::string output_pattern;
  std::string error_pattern;
  // The client's id of this submission (printable ASCII, at most SpecLimits::kRequestId bytes;
  // "" = none): a submission retried with the same id by the same user gets the job the first
  // one made, not a second job (a client that lost its coordinator in a failover retries).
  std::string request_id;

  // Number of tasks this spec expands into.
  int TaskCount() const { return array.empty() ? tasks : array.size(); }
  // Task index of the i-th task (array index, or rank).
  int TaskIndex(int i) const { return array.empty() ? i : array.first + i; }
  // Structural validation (no cluster knowledge): non-empty command, sane counts and ranges,
  // finite numbers, and the size limits below, so that nothing a client sends can make the
  // coordinator store or compute with absurd values.
  Status Validate() const;
};

// An --output / --error pattern (JobSpec::output_pattern) for one attempt of one task.
struct OutputNames {
  JobId job = 0;
  int task_index = 0;
  int64_t attempt = 0;
  std::string name, user, node;
};
std::string ExpandOutputPattern(const std::string& pattern, const OutputNames& names);
// Ok, or InvalidArgument naming an unknown %-sequence (`what`: "--output").
Status CheckOutputPattern(const std::string& pattern, const std::string& what);

// Limits of a job spec (JobSpec::Validate; docs/user-guide.md lists them).
struct SpecLimits {
  static constexpr size_t kName = 256;           // name and class, bytes
  static constexpr size_t kArgs = 4096;          // command arguments
  static constexpr size_t kCommandBytes = 256 << 10;
  static constexpr size_t kEnvVars = 1024;
  static constexpr size_t kEnvBytes = 1 << 20;   // keys and values together
  static constexpr size_t kPath = 4096;          // workdir
  static constexpr size_t kRequestId = 128;      // request_id, bytes
  static constexpr size_t kAfter = 1024;         // dependencies
  static constexpr int kPriority = 1000000;      // |priority|
  static constexpr double kEstimate = 1e9;       // est_work, est_time_s (s: ~31 years)
  static constexpr int64_t kTimeLimitMs = 366LL * 86400 * 1000;  // a year and a day
  static constexpr int64_t kSignalGraceMs = 3600LL * 1000;
  static constexpr int64_t kMilliCpus = 1LL << 30;
  static constexpr int64_t kMemoryMiB = 1LL << 40;
  static constexpr int kGpus = 4096;
};

// kTimeout: stopped at its time limit (JobSpec::time_limit_ms); terminal, like kFailed for good.
// kOom: killed for going over its memory limit (the kernel's OOM killer in its cgroup); a kind of
// failure: a task in kOom is retried like a failed one while retries remain.
enum class JobState { kPending, kRunning, kSucceeded, kFailed, kCancelled, kTimeout, kOom };
enum class TaskState {
  kPending, kLaunching, kRunning, kSucceeded, kFailed, kCancelled, kLost, kTimeout, kOom  // kOom last
};
inline constexpr size_t kTaskStateCount = static_cast<size_t>(TaskState::kOom) + 1;

const char* JobStateName(JobState s);
const char* TaskStateName(TaskState s);
std::optional<JobState> ParseJobState(const std::string& s);
std::optional<TaskState> ParseTaskState(const std::string& s);

bool IsTerminal(JobState s);
bool IsTerminal(TaskState s);

// Legal transitions:
//   pending -> launching | cancelled
//   launching -> running | succeeded | failed | cancelled | lost | timeout | pending (launch
//                refused)
//   running -> succeeded | failed | cancelled | lost | timeout | pending (requeued: retry, lost
//              node, migration, a timeout with requeue_on_timeout)
//   failed | lost -> pending (retry, new attempt)
// Jobs: pending -> running | cancelled | failed; running -> succeeded | failed | cancelled |
// timeout | pending.
// Everything else is rejected with kFailedPrecondition.
Status CheckTransition(TaskState from, TaskState to);
Status CheckTransition(JobState from, JobState to);

}  // namespace muster
