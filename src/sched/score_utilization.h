// Shared by the binpack and spread scorers: the node's utilization after placing ask.ranks
// tasks, 0..100, as a weighted mean of GPU (weight 2, if the node has GPUs), CPU and memory.
#pragma once

#include "sched/placement_plugin.h"

namespace muster::sched {

inline int UtilizationAfter(const PlacementAsk& ask, const ClusterState& state, int node) {
  const NodeSpec& spec = state.spec(node);
  const NodeSlot& slot = state.slot(node);
  int64_t sum = 0;
  int64_t weight = 0;
  auto add = [&](int64_t cap, int64_t free, int64_t demand, int w) {
    if (cap <= 0) return;
    int64_t used = cap - free + demand;
    if (used > cap) used = cap;
    if (used < 0) used = 0;
    sum += w * (used * 100 / cap);
    weight += w;
  };
  add(static_cast<int64_t>(spec.gpus.size()), slot.free_gpus,
      static_cast<int64_t>(ask.shape.gpus) * ask.ranks, 2);
  add(spec.milli_cpus, slot.milli_cpus, ask.shape.milli_cpus * ask.ranks, 1);
  add(spec.memory_mib, slot.memory_mib, ask.shape.memory_mib * ask.ranks, 1);
  return weight == 0 ? 0 : static_cast<int>(sum / weight);
}

}  // namespace muster::sched
