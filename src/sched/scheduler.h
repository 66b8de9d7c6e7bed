// Entry point of the online scheduler used by the coordinator and the simulator.
//
// Schedule(snapshot, config):
//   1. order the queue with the configured QueuePolicy (fifo, priority, sjf, fairshare);
//   2. for each job in order, run the placement pipeline (filter -> score -> select) against
//      the free capacity left by earlier placements in this pass; gangs are placed atomically;
//   3. the first job that does not fit gets a reservation on the timeline built from running
//      tasks' predicted finishes; with backfill on, later jobs may start now only if they do not
//      delay that reservation (EASY backfill); without backfill the pass stops at that job
//      (jobs behind it get predicted starts only);
//   4. every queued job gets a predicted start/finish row in the Plan.
// Pure: no I/O, clock or threads; deterministic.
#pragma once

#include <string>
#include <vector>

#include "sched/plan.h"
#include "sched/snapshot.h"

namespace muster::sched {

struct SchedulerConfig {
  std::string queue_policy = "fifo";   // fifo | priority | sjf | fairshare
  std::vector<std::string> scorers = {"binpack"};  // binpack | spread | mct | fewest-nodes
  bool backfill = true;
  int max_starts_per_pass = 100000;
  // Placement search: admitted nodes scored per decision (0 = every feasible node). Candidates
  // come from a free-GPU index in the primary scorer's preferred order, so a small limit loses
  // little (see docs/scheduler.md). Ignored when a scorer needs every node (mct).
  int candidate_limit = 16;
  // Projection horizon: how many waiting jobs get predicted start/finish rows (0 = none).
  int max_predicted_jobs = 10000;
};

Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config);

class PluginRegistry;       // sched/placement_registry.h
class QueuePolicyRegistry;  // sched/queue_policy.h
// Schedule with caller-supplied registries of placement plugins and queue policies (the
// registries are values; the overload above uses their Default()).
Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config,
                      const PluginRegistry& plugins, const QueuePolicyRegistry& policies);

// Names accepted in SchedulerConfig, for --help and validation.
std::vector<std::string> QueuePolicyNames();
std::vector<std::string> ScorerNames();

}  // namespace muster::sched
