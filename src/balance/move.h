// What the balancer proposes: Moves. A Move relocates whole units of work from one node to
// another; it is what the coordinator applies (like a Plan) and what the simulator replays.
//
//   migrate   a running, checkpointable job (all of its running tasks, i.e. every rank of a gang)
//             is checkpointed on `from_node`, stopped, and restarted from that checkpoint on
//             `to_node` (GPUs `to_gpus`, when given, one list per task in `tasks` order).
//   steal     pending array tasks that the current plan would start later on a busy node are
//             started now on an idle node instead (`from_node` is the node the plan had them on,
//             or -1).
//   retarget  a pending job (all pending ranks of a gang) is started now on `to_node` instead of
//             where the plan (or its pin) had it; also the pin that lets a job blocked by
//             fragmentation start on the node a defragmentation freed.
// Applying a steal/retarget means launching `tasks` on `to_node` now (as a start_now placement),
// or pinning the job there (PendingJob::pinned_node) when all its pending tasks move.
//
// gain_s is the predicted time saved (seconds), cost_s the predicted price of the move (seconds
// of checkpoint, restart and lost work; 0 for work that has not started). See docs/balancer.md
// for how each kind computes them. Pure data; no I/O.
#pragma once

#include <string>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace muster::balance {

enum class MoveKind { kMigrate, kSteal, kRetarget };

// "migrate", "steal", "retarget".
const char* MoveKindName(MoveKind k);

struct Move {
  JobId job = 0;
  std::vector<int> tasks;  // task indices (array index or gang rank)
  int from_node = -1;      // index into ClusterSnapshot::nodes; -1 = not placed yet
  int to_node = -1;
  std::vector<std::vector<int>> to_gpus;  // per task, local GPU indices on to_node (may be empty)
  MoveKind kind = MoveKind::kMigrate;
  double gain_s = 0;   // predicted time saved
  double cost_s = 0;   // predicted checkpoint + restart (+ lost work) time
  std::string reason;  // one line, for logs and `muster balance`
  bool apply = false;  // false in dry-run mode: report only

  // "migrate job 7 [0,1] n0 -> n3 (gain 812.0s, cost 60.0s): <reason>" (node indices if no names).
  std::string ToString(const std::vector<std::string>& node_names = {}) const;
};

// Predicted price of migrating one job: checkpoint (save) + restart (load, warm-up) + work lost
// since the last checkpoint, all in seconds.
struct MoveCostEstimate {
  double checkpoint_s = 30;
  double restart_s = 30;
  double lost_work_s = 0;

  double total_s() const { return checkpoint_s + restart_s + lost_work_s; }
};

// Cost estimate from checkpoint size with the alpha-beta model (model/exec_time.h): the
// checkpoint is written once and read once, each a transfer of `checkpoint_bytes` with latency
// alpha_s over bandwidth_bytes_per_s; restart_s (process start, warm-up) is added to the restart.
// Errors on negative sizes or non-positive bandwidth.
Result<MoveCostEstimate> EstimateMoveCost(double checkpoint_bytes, double alpha_s,
                                          double bandwidth_bytes_per_s, double restart_s);

}  // namespace muster::balance
