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

#include <memory>
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

class PluginRegistry;       // sched/placement_registry.h
class QueuePolicyRegistry;  // sched/queue_policy.h
class QueuePolicy;          // sched/queue_policy.h

// A scheduler kept between passes, for callers that run many (the coordinator's loop, the
// simulator): its queue policy and placement pipeline are built once; while
// ClusterSnapshot::nodes_generation stays the same nonzero value it keeps its feasibility answers
// and its free-capacity index, and a caller that names the nodes whose free capacity changed
// since the previous Run pays only for those (a pass then costs O(changed nodes + queue view +
// placements), not O(nodes)). Each Run is still one pass over the snapshot it is given: the plan
// is the one a fresh scheduler would compute. Not thread-safe: one caller at a time.
class Scheduler {
 public:
  // kInvalidArgument for an invalid config or unknown policy or scorer names. The registries
  // are copied from (their factories are called now), not kept.
  static Result<Scheduler> Create(const SchedulerConfig& config, const PluginRegistry& plugins,
                                  const QueuePolicyRegistry& policies);
  static Result<Scheduler> Create(const SchedulerConfig& config);

  Scheduler(Scheduler&&) noexcept;
  Scheduler& operator=(Scheduler&&) noexcept;
  ~Scheduler();

  const SchedulerConfig& config() const;
  // One pass: the Plan for this snapshot. changed_nodes: indices of the nodes whose free
  // capacity may differ from the previous Run's snapshot (duplicates allowed); nullptr when not
  // known, and then every node is read. Ignored when the nodes' generation changed.
  Result<Plan> Run(const ClusterSnapshot& snapshot,
                   const std::vector<int>* changed_nodes = nullptr);

 private:
  struct Parts;
  explicit Scheduler(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// One pass with a scheduler built for it (Scheduler::Create, then Run).
Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config);
// Schedule with caller-supplied registries of placement plugins and queue policies (the
// registries are values; the overload above uses their Default()).
Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config,
                      const PluginRegistry& plugins, const QueuePolicyRegistry& policies);

// Names accepted in SchedulerConfig, for --help and validation.
std::vector<std::string> QueuePolicyNames();
std::vector<std::string> ScorerNames();

}  // namespace muster::sched
