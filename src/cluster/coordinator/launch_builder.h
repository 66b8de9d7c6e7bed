// LaunchBuilder: what an agent is told to run for one attempt of a task, as a pure function of
// the job, the task (its new attempt, node and GPUs), the placements of the start it belongs to
// (the whole gang's for a gang) and the nodes those name.
//
// The environment (docs/user-guide.md, "The task environment"):
//   * the job's own env, then MUSTER_JOB_ID, MUSTER_TASK_INDEX, MUSTER_ATTEMPT,
//     MUSTER_CHECKPOINT_DIR (<checkpoint_root>/<job>, unless the job sets it), and
//     MUSTER_CHECKPOINTABLE=1 for checkpointable jobs, and MUSTER_STOP_REASON_FILE
//     (<checkpoint dir>/.stop-reason.<attempt>, where the agent writes why it stops the task,
//     e.g. "timeout", before the SIGTERM) when the checkpoint directory is the coordinator's;
//   * the job's time limit and signal grace (kDefaultSignalGraceMs when it sets none);
//   * CUDA_VISIBLE_DEVICES: the device indices of the task's GPUs; for a gang rank, of all the
//     gang's ranks on the same node in local-rank order (as torchrun does);
//   * for a gang, the torchrun variables, taken from the rank fields the scheduler put in each
//     Placement (gang_rank, local_rank, local_world, group_rank; no second derivation):
//     RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE (nodes of the
//     gang), ROLE_RANK, ROLE_WORLD_SIZE, ROLE_NAME=default, MASTER_ADDR (the address of rank 0's
//     node), MASTER_PORT (base + (job*97 + attempt*31) mod span, so that the next attempt of a
//     gang does not wait for the last one's port), TORCHELASTIC_RUN_ID=muster-<job>,
//     TORCHELASTIC_RESTART_COUNT (the gang's retries and lost-node requeues so far),
//     TORCHELASTIC_MAX_RESTARTS (the job's retry budget), and OMP_NUM_THREADS (the task's whole
//     CPUs, at least 1) unless the job sets it.
//
// Pure: no I/O (the caller creates the checkpoint directory); thread-compatible.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster/common/launch.h"
#include "cluster/store/records.h"
#include "sched/plan.h"

namespace muster::cluster {

inline constexpr DurationMs kDefaultSignalGraceMs = 30000;

struct LaunchContext {
  std::string checkpoint_root;  // <state dir>/checkpoints
  int master_port_base = 29500;
  int master_port_span = 10000;
  MiB default_log_limit_mib = 64;  // for a job that sets none
  bool allow_root = false;         // CoordinatorOptions::allow_root_jobs
  // The node record (spec and address) of a node named in the start; nullptr if unknown.
  std::function<const NodeRecord*(const std::string&)> node;
};

// REQUIRES: t.node, t.gpus and t.attempt are the new attempt's; for a gang, `start` holds the
// placement of every rank (t's among them); otherwise it may be just t's.
LaunchSpec BuildLaunch(const JobRecord& j, const TaskRecord& t,
                       const std::vector<const sched::Placement*>& start, const LaunchContext& ctx);

}  // namespace muster::cluster
