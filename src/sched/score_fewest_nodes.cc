#include "sched/score_fewest_nodes.h"

#include <algorithm>

namespace muster::sched {

namespace {

class FewestNodesScorer final : public ScorePlugin {
 public:
  std::string_view name() const override { return kFewestNodesScorer; }
  int Score(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    if (ask.gang_remaining <= 0) return 100;
    int fit = state.TasksThatFit(node, ask.shape, ask.FinishOn(state, node));
    return 100 * std::min(fit, ask.gang_remaining) / ask.gang_remaining;
  }
  CandidateOrder order() const override { return CandidateOrder::kMostFreeGpusFirst; }
};

}  // namespace

std::unique_ptr<ScorePlugin> MakeFewestNodesScorer() {
  return std::make_unique<FewestNodesScorer>();
}

}  // namespace muster::sched
