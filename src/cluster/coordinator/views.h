// What the Coordinator's user API takes and answers, in core types: queries, views of jobs,
// tasks, nodes and the schedule, and the per-job results of a change (cancel, hold, requeue).
// Nothing here knows the wire; the gRPC edge (server.cc) converts with wire_views.h.
//
// Views are copies made under the coordinator's lock: a caller may keep them as long as it
// likes, and they do not change when the coordinator's state does. A job's spec is shared
// (immutable once submitted), not copied.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/store/records.h"
#include "model/balance.h"
#include "core/clock.h"
#include "core/job.h"
#include "core/node.h"

namespace muster::cluster {

struct TaskView {
  int index = 0;
  TaskState state = TaskState::kPending;
  std::string node;
  std::vector<int> gpus;  // positions in the node's GPU list
  Attempt attempt = 0;
  int exit_code = 0;
  // Why it ended as it did, or what the coordinator cannot confirm about a task it believes
  // active ("unconfirmed: node n1 is out of contact").
  std::string message;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  // For a task not done: the latest prediction (a started task's start is its actual start);
  // 0 once done.
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  // The latest progress report as its agent sent it (a serialized muster.v1.Progress, kept
  // as bytes: the coordinator never reads it); "" = none.
  std::string progress;
  int retries = 0;
  MiB peak_memory_mib = 0;  // the latest ended attempt's cgroup; <= 0 = not measured
  double cpu_seconds = 0;
};

struct JobView {
  JobId id = 0;
  std::shared_ptr<const JobSpec> spec;
  JobState state = JobState::kPending;
  TimeMs submit_ms = 0;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  // For a job not ended: the latest prediction (a running job's start is its actual start).
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  // What the first prediction pass after submit predicted (made_ms 0 = none yet).
  JobRecord::SubmitPrediction submit_prediction;
  // Why pending, or why it failed; else the latest event of its history that is not a
  // prediction ("migrated from n1 to n2 at ...").
  std::string reason;
  std::vector<std::string> history;  // oldest first
  // The nodes its active tasks run on, or (when none is active) where its tasks last ran.
  std::vector<std::string> nodes;
  std::array<int, kTaskStateCount> task_state_counts{};  // by TaskState
  std::vector<TaskView> tasks;  // by index; empty unless asked for
};

// ListJobs: every filter given must hold.
struct JobQuery {
  bool include_finished = false;
  size_t limit = 0;  // 0 = all; else the most recent `limit` jobs
  bool with_tasks = false;
  std::string user;                // the owner; "" = any
  std::string name;                // the exact name; "" = any
  std::vector<JobState> states;    // any of these; a terminal one includes finished jobs
  TimeMs since_ms = 0;             // submitted or ended at or after; 0 = any
};

struct JobListView {
  std::vector<JobView> jobs;  // by ascending id
  TimeMs now_ms = 0;
  std::string store_condition;  // "" or why the coordinator is read-only
  DurationMs fairshare_half_life_ms = 0;
};

// The result for one job (or one task: is_task) of a cancel, hold, release or requeue.
struct ChangeResult {
  JobId job_id = 0;
  bool is_task = false;
  int task_index = 0;
  bool ok = false;
  std::string error;  // why not, when !ok
};

// A GPU's live readings from its node's latest heartbeat; -1 = not reported.
struct GpuReadings {
  double utilization = -1;  // 0..1
  double power_w = -1;
  MiB memory_used_mib = -1;
};

struct NodeView {
  NodeSpec spec;
  std::string address;  // the host its agent runs on
  std::vector<GpuReadings> gpu_readings;  // parallel to spec.gpus
  std::string state;  // "ready", "draining", "drained", "lost", ... (NodeStateText)
  NodeFree free;
  int running_tasks = 0;
  TimeMs last_heartbeat_ms = 0;
  // GPUs allocated / GPUs of the node; on a node without GPUs, milli-CPUs allocated / its
  // milli-CPUs. Allocation as the coordinator sees it, not measured utilization.
  double load = 0;
  std::string containment;  // how its tasks are contained, as its agent reported it
  std::string only_user;    // "" = runs every user's tasks
  std::string drain_reason;
  std::string drained_by;
  TimeMs drained_ms = 0;  // 0 = not drained
};

struct NodeListView {
  std::vector<NodeView> nodes;  // by name
  TimeMs now_ms = 0;
  std::string store_condition;
};

// The outcome of a drain or undrain.
struct DrainView {
  std::string node;
  std::string state;  // as NodeView::state after the change
  int running_tasks = 0;
  int migrating_jobs = 0;  // jobs the drain stopped to move
};

// One task's row of the schedule table.
struct ScheduleRow {
  JobId job_id = 0;
  int task_index = 0;
  std::string job_name;
  TaskState state = TaskState::kPending;
  std::string node;       // "" while pending
  std::vector<int> gpus;  // empty while pending
  // A pending task's latest prediction; a started one keeps the prediction made at its launch
  // (or its actual start where there was none), to set against the actual times.
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  TimeMs actual_start_ms = 0;   // 0 = not started
  TimeMs actual_finish_ms = 0;  // 0 = not finished
  TimeMs submit_predicted_start_ms = 0;  // the job's prediction made at submit
  TimeMs submit_predicted_finish_ms = 0;
};

struct ScheduleView {
  std::vector<ScheduleRow> rows;
  TimeMs now_ms = 0;
};

// ---- the load balancer (GetBalance; docs/balancer.md)

// One load of the balancer's last evaluation.
struct LoadRow {
  std::string node;
  int gpu = -1;          // local GPU index; -1 for a node row
  double predicted = 0;  // P
  double measured = -1;  // M; -1 = unknown
  double load = 0;       // L
};

// The metrics of one evaluation (or the mean of several: BalanceTrend's coarse points).
struct BalancePoint {
  TimeMs time_ms = 0;
  model::BalanceReport nodes;
  model::BalanceReport gpus;
};

// A move the balancer decided, and what became of it.
struct BalanceMoveView {
  JobId job_id = 0;
  std::vector<int> tasks;
  std::string from_node;
  std::string to_node;
  std::string kind;  // migrate | steal | retarget
  double gain_s = 0;
  double cost_s = 0;
  std::string reason;
  bool apply = false;    // false in dry-run
  std::string outcome;   // "applied", "dry-run", or "dropped: <why>"
  TimeMs time_ms = 0;
  std::string text;      // balance::Move::ToString with node names
};

struct BalanceView {
  std::string mode;  // off | dry-run | on
  TimeMs now_ms = 0;
  TimeMs evaluated_ms = 0;  // of the last evaluation; 0 = none yet
  DurationMs period_ms = 0;
  double threshold = 0;
  int k = 0;
  int streak = 0;
  bool armed = false;
  std::vector<LoadRow> node_loads;
  std::vector<LoadRow> gpu_loads;
  model::BalanceReport nodes;
  model::BalanceReport gpus;
  std::vector<BalancePoint> trend;             // oldest first
  std::vector<BalanceMoveView> moves;          // of the last evaluation
  std::vector<std::string> notes;              // why rules did not act
  std::vector<BalanceMoveView> recent_moves;   // applied or dropped, newest last
  int queue_length = 0;  // pending tasks
  int running_tasks = 0;
  int running_jobs = 0;
};

}  // namespace muster::cluster
