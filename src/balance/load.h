// Load of each node and each GPU, and the balance metrics over them.
//
// Predicted load (always available). For a task t on ready node i with remaining time
// r_t = max(0, predicted_finish - now), stretched by the node's measured slowdown
// (r_t / speed_factor_i, see NodeUsage), over a horizon H:
//     P_i  = sum_t share_t * min(r_t, H) / H
//     share_t = gpus_t / gpus_i        on a node with GPUs
//             = milli_cpus_t / milli_cpus_i  on a CPU-only node
// i.e. the fraction of the node's capacity that running work keeps busy over the next H: the
// remaining work over the node's capacity (work = time x node speed and capacity = devices x node
// speed, so the speed cancels once predicted finishes are made at the node's speed, as the
// scheduler makes them). P_i is in [0, 1] when allocations respect capacity. Per GPU j:
// P_ij = min(r_t, H) / H for the task holding it, 0 when free.
//
// Measured load (when the caller has it): M_i = mean of the node's known GPU utilizations, else
// the node-level utilization (e.g. CPU load / CPUs); M_ij = that GPU's utilization. Both in [0, 1].
// Blended load: L = (1 - w) P + w M with w = LoadOptions::measured_weight when M is known, else
// L = P.
//
// Only ready nodes count (draining and lost nodes are leaving); an idle ready node has load 0.
// The metrics (Jain, CoV, imbalance factor lambda = max/mean - 1, relative imbalance) come from
// model/balance.h. Pure; no I/O.
#pragma once

#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "model/balance.h"
#include "sched/snapshot.h"

namespace muster::balance {

// Live readings of one node; -1 = unknown.
struct NodeUsage {
  double utilization = -1;              // 0..1, whole node (CPU load / CPUs, say)
  std::vector<double> gpu_utilization;  // 0..1 per local GPU index; -1 or missing = unknown
  // Observed progress rate over the rate the spec speed predicts (1 = as expected, 0.5 = half
  // speed: thermal throttling, a noisy neighbour). Scales remaining times and the heterogeneity
  // rule's speeds. Must be > 0.
  double speed_factor = 1.0;
};

// Measured usage, parallel to ClusterSnapshot::nodes (shorter or empty = unknown for the rest).
struct MeasuredUsage {
  std::vector<NodeUsage> nodes;

  // The node's entry, or a default (all unknown, speed factor 1).
  const NodeUsage& For(int node) const;
};

struct LoadOptions {
  DurationMs horizon_ms = 3'600'000;  // H: remaining work beyond this counts as a full load
  double measured_weight = 0.5;       // w in [0, 1]
};

struct LoadSample {
  int node = -1;
  int gpu = -1;          // local GPU index; -1 for a node sample
  double predicted = 0;  // P
  double measured = -1;  // M, -1 when unknown
  double load = 0;       // L
};

struct BalanceEvaluation {
  std::vector<LoadSample> node_loads;  // one per ready node, in node order
  std::vector<LoadSample> gpu_loads;   // one per GPU of a ready node
  model::BalanceReport nodes;
  model::BalanceReport gpus;
};

// OK if the options are in range and every reading is finite and in [0, 1] (or -1), speed
// factors > 0, and usage has no more entries than the snapshot has nodes (GPUs likewise).
Status ValidateLoadInput(const sched::ClusterSnapshot& snapshot, const MeasuredUsage& usage,
                         const LoadOptions& options);

// Loads and metrics at snapshot.now_ms. Errors as ValidateLoadInput.
Result<BalanceEvaluation> Evaluate(const sched::ClusterSnapshot& snapshot,
                                   const MeasuredUsage& usage = {},
                                   const LoadOptions& options = {});

}  // namespace muster::balance
