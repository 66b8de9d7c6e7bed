// Internal helpers shared by the balancer's rules and the what-if applier: free capacity that a
// decision debits as it plans moves (Room), and running work grouped into the units that move
// together (RunningUnit: every running task of one job, so a gang's ranks never split).
// Not part of the public API. Pure; no I/O.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "balance/load.h"
#include "core/clock.h"
#include "sched/snapshot.h"

namespace muster::balance {

// max(0, predicted_finish - now) in ms.
double RemainingMs(const sched::RunningTask& t, TimeMs now);

// Evaluate() at an explicit time (the balancer's `now`).
Result<BalanceEvaluation> EvaluateAt(const sched::ClusterSnapshot& snapshot,
                                     const MeasuredUsage& usage, const LoadOptions& options,
                                     TimeMs now);

// Free CPU, memory and GPUs per node, debited and credited as moves are planned. Copyable, so a
// rule can try a plan on a copy and keep it only if it works.
class Room {
 public:
  explicit Room(const sched::ClusterSnapshot& snapshot);

  bool ready(int node) const { return ready_[node]; }
  int size() const { return static_cast<int>(free_.size()); }
  // Free GPUs of `node` that satisfy r's per-GPU constraints.
  int FreeMatching(int node, const ResourceRequest& r) const;
  // True if all of `requests` fit on `node` at once now (node ready).
  bool Fits(int node, const std::vector<ResourceRequest>& requests) const;
  // Debits all of `requests` on `node`, lowest matching GPUs first; the GPUs per request, or
  // nullopt (and nothing debited) when they do not all fit.
  std::optional<std::vector<std::vector<int>>> Take(int node,
                                                    const std::vector<ResourceRequest>& requests);
  // Debits exactly these resources (a placement the current plan starts now); GPUs already
  // taken are ignored, CPU and memory may go negative (the node then fits nothing).
  void Hold(int node, MilliCpu milli_cpus, MiB memory_mib, const std::vector<int>& gpus);
  // Credits back one task's holding.
  void Give(int node, const ResourceRequest& r, const std::vector<int>& gpus);

 private:
  // Takes every request on a copy of free_[node]; the copy and the GPUs, or nullopt.
  std::optional<std::pair<NodeFree, std::vector<std::vector<int>>>> TakeOn(
      int node, const std::vector<ResourceRequest>& requests) const;

  const sched::ClusterSnapshot* snapshot_;
  std::vector<NodeFree> free_;
  std::vector<bool> ready_;
};

// All running tasks of one job.
struct RunningUnit {
  JobId job = 0;
  std::vector<int> running;     // indices into ClusterSnapshot::running, by task index
  int node = -1;                // the one node holding every task; -1 when spread over several
  bool checkpointable = false;  // every task checkpointable
  int gpus = 0;
  double remaining_ms = 0;  // the latest task's RemainingMs

  std::vector<int> TaskIndices(const sched::ClusterSnapshot& s) const;
  std::vector<ResourceRequest> Requests(const sched::ClusterSnapshot& s) const;
};

// Units of the snapshot's running tasks, ordered by job id.
std::vector<RunningUnit> RunningUnits(const sched::ClusterSnapshot& snapshot, TimeMs now);

}  // namespace muster::balance
