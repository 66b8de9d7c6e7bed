// The plan applier's capacity check, shared by the coordinator and the simulator.
//
// A Plan is computed from a snapshot; by the time it is applied the cluster may have changed (a
// task ended, a node left, another job was cancelled). ApplyPlan walks the plan's start_now
// placements job by job, in the order each job first appears in the plan, and re-checks every
// one against the capacity now with core's Fits (CPU, memory, GPUs free and matching), debiting
// what it accepts so that later jobs see it. The caller says, per job, whether it may start at all
// (it still exists and is pending), its per-task request (for the GPU model and memory checks) and
// whether it is all-or-nothing: a gang's placements are accepted together or none is, and then
// nothing it tried is debited.
//
// The caller persists and launches what was accepted; rejected placements stay queued for the
// next pass. Pure; not thread-safe (the caller owns `nodes`).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sched/plan.h"
#include "sched/snapshot.h"

namespace muster::sched {

// What the caller says about one job of the plan.
struct JobAdmission {
  Status admit;                              // non-ok: none of its placements start; the reason
  const ResourceRequest* request = nullptr;  // per-task request; REQUIRED when admit is ok
  int whole = 0;  // > 0: all-or-nothing; exactly this many placements must be accepted
};

struct ApplyRules {
  std::function<JobAdmission(JobId)> job;
  // Optional per-task admission (the task is still pending); non-ok rejects that placement.
  std::function<Status(const Placement&)> task;
};

// The placements of one job that start, in plan order.
struct JobStart {
  JobId job = 0;
  std::vector<const Placement*> placements;
};

struct RejectedPlacement {
  const Placement* placement = nullptr;
  std::string why;
};

struct AppliedPlan {
  std::vector<JobStart> accepted;  // jobs in the order they first appear in the plan
  std::vector<RejectedPlacement> rejected;
};

// Re-checks and debits the plan's start_now placements on `nodes` (indexed like the snapshot the
// plan came from: Placement::node). A node that is not kReady accepts nothing.
AppliedPlan ApplyPlan(std::vector<NodeView>& nodes, const Plan& plan, const ApplyRules& rules);

}  // namespace muster::sched
