#include "sched/score_spread.h"

#include "sched/score_utilization.h"

namespace muster::sched {

namespace {

class SpreadScorer final : public ScorePlugin {
 public:
  std::string_view name() const override { return kSpreadScorer; }
  int Score(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    return 100 - UtilizationAfter(ask, state, node);
  }
  CandidateOrder order() const override { return CandidateOrder::kMostFreeGpusFirst; }
};

}  // namespace

std::unique_ptr<ScorePlugin> MakeSpreadScorer() {
  return std::make_unique<SpreadScorer>();
}

}  // namespace muster::sched
