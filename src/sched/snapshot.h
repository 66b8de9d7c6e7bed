// The immutable input of one scheduling pass: nodes with their free capacity, the tasks that are
// running (with predicted finish times, for backfill reservations), and the queue. The
// coordinator builds it from its store, the simulator from its virtual cluster; the scheduler
// never sees anything else.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/job.h"
#include "core/node.h"

namespace muster::sched {

struct NodeView {
  NodeSpec spec;
  NodeState state = NodeState::kReady;
  NodeFree free;  // capacity not held by running tasks
  // An agent that is not root runs only its own user's tasks: that user ("" = every user's).
  std::string only_user;
};

struct RunningTask {
  TaskRef task;
  int node = 0;              // index into ClusterSnapshot::nodes
  std::vector<int> gpus;     // local GPU indices held
  ResourceRequest resources;
  TimeMs started_ms = 0;
  TimeMs predicted_finish_ms = 0;  // from the execution-time model; >= now
  bool checkpointable = false;
};

struct PendingJob {
  JobId id = 0;
  std::shared_ptr<const JobSpec> spec;
  TimeMs submitted_ms = 0;
  std::vector<int> pending_tasks;  // task indices still to place (all ranks for a gang)
  int running_tasks = 0;           // already running (for array throttles)
  DurationMs predicted_duration_ms = 0;  // per task, from the model (or the oracle in sim)
  double predicted_stddev_ms = 0;
  // Fair share: the user's current dominant share, filled by the caller from running tasks.
  double user_dominant_share = 0;
  int pinned_node = -1;  // >= 0: only this node (migration target)
  // Service already received by earlier, preempted runs: GPUs x seconds (for "las").
  double attained_gpu_seconds = 0;
};

struct ClusterSnapshot {
  TimeMs now_ms = 0;
  // Changes whenever a node is added or removed or changes spec or state (free capacity aside).
  // A Scheduler kept between passes reuses its feasibility answers while it is unchanged;
  // 0 means unknown: nothing is reused.
  uint64_t nodes_generation = 0;
  std::vector<NodeView> nodes;
  std::vector<RunningTask> running;
  std::vector<PendingJob> queue;
};

}  // namespace muster::sched
