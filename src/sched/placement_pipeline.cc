#include "sched/placement_pipeline.h"

#include <algorithm>

#include "sched/score_fewest_nodes.h"

namespace muster::sched {

Result<PlacementPipeline> PlacementPipeline::Build(const PluginRegistry& registry,
                                                   const PipelineOptions& options) {
  PlacementPipeline p;
  for (const auto& name : options.filters) {
    auto f = registry.MakeFilter(name);
    if (!f.ok()) return f.status();
    p.filters_.push_back(std::move(f).value());
  }
  bool has_fewest = false;
  for (const auto& name : options.scorers) {
    auto s = registry.MakeScorer(name);
    if (!s.ok()) return s.status();
    has_fewest = has_fewest || (*s)->name() == kFewestNodesScorer;
    p.scorers_.push_back(std::move(s).value());
  }
  if (!has_fewest) p.gang_scorer_ = MakeFewestNodesScorer();
  bool ordered = false;
  for (const auto& s : p.scorers_) {
    if (s->order() == CandidateOrder::kAny) {
      p.full_scan_ = true;
    } else if (!ordered) {
      p.order_ = s->order();
      ordered = true;
    }
  }
  p.candidate_limit_ = options.candidate_limit;
  return p;
}

int PlacementPipeline::Total(const PlacementAsk& ask, const ClusterState& state, int node,
                             bool gang) const {
  int total = 0;
  for (const auto& s : scorers_) total += s->Score(ask, state, node);
  if (gang && gang_scorer_) total += gang_scorer_->Score(ask, state, node);
  return total;
}

int PlacementPipeline::SelectNode(const PlacementAsk& ask, const ClusterState& state, int pinned,
                                  const std::vector<int>& exclude) const {
  const bool gang = ask.gang_remaining > 0;
  auto admitted = [&](int node) {
    for (int x : exclude)
      if (x == node) return false;
    for (const auto& f : filters_)
      if (!f->Admits(ask, state, node)) return false;
    return true;
  };
  if (pinned >= 0) return pinned < state.size() && admitted(pinned) ? pinned : -1;

  int best = -1;
  int best_score = -1;
  int seen = 0;
  const bool limited = candidate_limit_ > 0 && !full_scan_;
  const bool most_free_first = gang || order_ == CandidateOrder::kMostFreeGpusFirst;
  state.ForEachCandidate(ask.shape.gpus * ask.ranks, most_free_first, [&](int node) {
    if (!admitted(node)) return true;
    int score = scorers_.empty() && !gang ? 0 : Total(ask, state, node, gang);
    if (score > best_score) {
      best = node;
      best_score = score;
    }
    return !(limited && ++seen >= candidate_limit_);
  });
  return best;
}

bool PlacementPipeline::PlaceGang(const PlacementAsk& ask, int ranks, int ranks_per_node,
                                  int pinned, ClusterState& state,
                                  std::vector<GangGroup>* out) const {
  std::vector<GangGroup> groups;
  std::vector<int> used;
  int left = ranks;
  while (left > 0) {
    PlacementAsk a = ask;
    a.ranks = ranks_per_node > 0 ? ranks_per_node : 1;
    a.gang_remaining = left;
    int node = SelectNode(a, state, pinned, used);
    if (node < 0) break;
    const TimeMs finish = a.FinishOn(state, node);
    int fit = state.TasksThatFit(node, a.shape, finish);
    int take = ranks_per_node > 0 ? ranks_per_node : std::min(fit, left);
    GangGroup g{node, {}};
    for (int k = 0; k < take; ++k) g.ranks.push_back(state.Take(node, a.shape, finish));
    left -= take;
    used.push_back(node);
    groups.push_back(std::move(g));
  }
  if (left > 0) {
    for (auto it = groups.rbegin(); it != groups.rend(); ++it)
      for (auto r = it->ranks.rbegin(); r != it->ranks.rend(); ++r) state.Give(*r);
    return false;
  }
  *out = std::move(groups);
  return true;
}

}  // namespace muster::sched
