// What-if: the snapshot as it would be right after a list of Moves took effect, for the
// simulator (to replay balancer decisions) and for `muster balance` (to print before/after
// metrics with Evaluate()).
//
// Moves are applied in order, each against the result of the previous ones:
//   migrate          the job's listed running tasks leave from_node (their CPU, memory and GPUs
//                    are freed) and run on to_node from now, finishing at
//                    now + cost_s + remaining x speed_from / speed_to (spec speeds);
//   steal, retarget  the listed pending tasks start now on to_node and finish at
//                    now + predicted_duration / speed_to; they leave the job's pending_tasks (a
//                    job with none left leaves the queue) and count in its running_tasks.
// GPUs on to_node are move.to_gpus when given and free, else the lowest-numbered free GPUs that
// satisfy the request. Every move is applied whatever its `apply` flag; filter first if needed.
// "now" is snapshot.now_ms. Pure; no I/O.
#pragma once

#include <vector>

#include "balance/move.h"
#include "core/status.h"
#include "sched/snapshot.h"

namespace muster::balance {

// The snapshot after `moves`. kNotFound when a move names a task that is not where it says;
// kFailedPrecondition when its target node is not ready or lacks room; kInvalidArgument for a
// node index out of range.
Result<sched::ClusterSnapshot> ApplyMoves(const sched::ClusterSnapshot& snapshot,
                                          const std::vector<Move>& moves);

}  // namespace muster::balance
