// "Never" versus "not now": whether a job could be placed on this cluster if every node were
// idle. A job is infeasible when no allowed node could ever hold one of its tasks (or, for a gang,
// when the allowed nodes together could not hold all ranks at once, ranks_per_node honoured).
// A job that is feasible on the cluster but not on its ready nodes (the rest draining or lost)
// is unschedulable: it may fit once those nodes return.
//
// Answers are memoized per request shape (resources, gang size, ranks per node, pin), so a queue
// of 100,000 identical jobs costs one scan of the nodes. Not thread-safe; pure.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "core/status.h"
#include "sched/snapshot.h"

namespace muster::sched {

class FeasibilityOracle {
 public:
  // Bound to no snapshot: Rebind before Check.
  FeasibilityOracle() = default;
  // REQUIRES: snapshot outlives the oracle (or its next Rebind).
  explicit FeasibilityOracle(const ClusterSnapshot& snapshot) { Rebind(snapshot); }

  // Answers about `snapshot` from now on. The memoized answers are kept when both snapshots
  // carry the same nonzero nodes_generation (same nodes, specs and states), dropped otherwise.
  void Rebind(const ClusterSnapshot& snapshot);

  // Ok if the job could start on the ready nodes once they are idle; kInfeasible if it never fits
  // on any node of the cluster; kUnschedulable if it fits only on nodes that are not ready.
  // Nodes that run only another user's tasks (NodeView::only_user) do not count.
  Status Check(const PendingJob& job);

 private:
  Status Compute(const PendingJob& job) const;
  // Ranks the allowed nodes could hold at once when idle; only_ready restricts to ready nodes.
  int64_t IdleCapacity(const PendingJob& job, bool only_ready) const;
  std::string InfeasibleMessage(const PendingJob& job) const;

  // The last field is the job's user where some node runs only one user's tasks, else "".
  using Key = std::tuple<MilliCpu, MiB, int, MiB, std::string, bool, int, int, int, std::string>;
  const ClusterSnapshot* snapshot_ = nullptr;
  bool user_restricted_ = false;  // some node of the bound snapshot has an only_user
  uint64_t generation_ = 0;  // of the bound snapshot
  std::map<Key, Status> memo_;
  // Queues share one spec among many jobs: repeat the last answer without building a key. The
  // spec is held so that its address cannot be reused by another spec meanwhile.
  std::shared_ptr<const JobSpec> last_spec_;
  size_t last_tasks_ = 0;
  int last_pin_ = -1;
  const Status* last_ = nullptr;
};

}  // namespace muster::sched
