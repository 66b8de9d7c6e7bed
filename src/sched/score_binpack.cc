#include "sched/score_binpack.h"

#include "sched/score_utilization.h"

namespace muster::sched {

namespace {

class BinpackScorer final : public ScorePlugin {
 public:
  std::string_view name() const override { return kBinpackScorer; }
  int Score(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    return UtilizationAfter(ask, state, node);
  }
  CandidateOrder order() const override { return CandidateOrder::kFewestFreeGpusFirst; }
};

}  // namespace

std::unique_ptr<ScorePlugin> MakeBinpackScorer() {
  return std::make_unique<BinpackScorer>();
}

}  // namespace muster::sched
