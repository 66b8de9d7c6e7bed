// The placement pipeline: filter -> score -> select, for one task or one whole gang.
//
// SelectNode: candidates come from ClusterState's free-GPU index in the order the first
// configured scorer prefers (fewest free GPUs first for binpack, most first for spread), or
// every ready node when a scorer needs them all (mct). Each candidate must pass every filter;
// admitted nodes are scored (sum of scorer results, 0..100 each) and the best wins, ties going to
// the node offered first. Like Nomad's limit iterator, the search stops after candidate_limit
// admitted nodes (0 = no limit): with an ordered index the first admitted nodes are already the
// best for the primary scorer, and the rest of the cluster is never touched.
//
// PlaceGang: all ranks or none. Nodes are chosen greedily, most free GPUs first, scored by the
// configured scorers plus fewest-nodes (added when not configured); each chosen node takes as
// many ranks as fit (or exactly ranks_per_node when > 0) and is not chosen twice. If the ranks
// cannot all be placed, every Take is given back and the state is unchanged.
// Local ranks on a node get ascending GPU indices (Take hands out the lowest GPUs first).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sched/placement_plugin.h"
#include "sched/placement_registry.h"

namespace muster::sched {

struct PipelineOptions {
  std::vector<std::string> filters = {"node-ready", "node-user", "resource-fit"};
  std::vector<std::string> scorers = {"binpack"};
  int candidate_limit = 16;  // admitted nodes scored per decision; 0 = all
};

// One node's share of a placed gang, in group-rank order; ranks in local-rank order.
struct GangGroup {
  int node = -1;
  std::vector<Grant> ranks;
};

class PlacementPipeline {
 public:
  // Instantiates the named plugins from the registry; kInvalidArgument for unknown names.
  static Result<PlacementPipeline> Build(const PluginRegistry& registry,
                                         const PipelineOptions& options);

  // Best admitted node for ask.ranks tasks of the ask, or -1. pinned >= 0: only that node.
  // Nodes listed in `exclude` are skipped.
  int SelectNode(const PlacementAsk& ask, const ClusterState& state, int pinned,
                 const std::vector<int>& exclude = {}) const;

  // Places `ranks` ranks of ask.shape atomically, debiting `state`; returns false (state
  // unchanged) if they do not all fit now.
  bool PlaceGang(const PlacementAsk& ask, int ranks, int ranks_per_node, int pinned,
                 ClusterState& state, std::vector<GangGroup>* out) const;

 private:
  int Total(const PlacementAsk& ask, const ClusterState& state, int node, bool gang) const;

  std::vector<std::unique_ptr<FilterPlugin>> filters_;
  std::vector<std::unique_ptr<ScorePlugin>> scorers_;
  std::unique_ptr<ScorePlugin> gang_scorer_;  // fewest-nodes, when not configured
  CandidateOrder order_ = CandidateOrder::kFewestFreeGpusFirst;
  bool full_scan_ = false;
  int candidate_limit_ = 16;
};

}  // namespace muster::sched
