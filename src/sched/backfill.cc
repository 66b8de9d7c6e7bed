#include "sched/backfill.h"

namespace muster::sched {

std::optional<Reservation> ReserveHead(const PlacementPipeline& pipeline, const PlacementAsk& ask,
                                       bool gang, int ranks, int ranks_per_node, int pinned,
                                       const ClusterState& state, const ReleaseTimeline& timeline) {
  ClusterState sim = state;
  sim.ClearGuard();
  ReleaseTimeline future = timeline;
  PlacementAsk a = ask;
  while (true) {
    std::vector<GangGroup> groups;
    bool placed = false;
    if (gang) {
      placed = pipeline.PlaceGang(a, ranks, ranks_per_node, pinned, sim, &groups);
    } else {
      int node = pipeline.SelectNode(a, sim, pinned);
      if (node >= 0) {
        groups.push_back({node, {sim.Take(node, a.shape, a.FinishOn(sim, node))}});
        placed = true;
      }
    }
    if (placed) {
      Reservation r;
      r.job = ask.job->id;
      r.start_ms = a.start_ms;
      r.guard.at = a.start_ms;
      r.guard.nodes.resize(sim.size());
      for (const auto& g : groups) {
        auto& ng = r.guard.nodes[g.node];
        ng.reserved = true;
        ng.spare_cpu = sim.slot(g.node).milli_cpus;
        ng.spare_mem = sim.slot(g.node).memory_mib;
        for (const auto& grant : g.ranks) ng.gpus |= grant.gpus;
      }
      r.groups = std::move(groups);
      return r;
    }
    if (future.empty()) return std::nullopt;
    a.start_ms = future.NextTime();
    future.ReleaseUntil(a.start_ms, sim, [](int) {});
  }
}

}  // namespace muster::sched
