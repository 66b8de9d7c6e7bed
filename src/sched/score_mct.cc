#include "sched/score_mct.h"

namespace muster::sched {

namespace {

class MctScorer final : public ScorePlugin {
 public:
  std::string_view name() const override { return kMctScorer; }
  int Score(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    if (ask.duration_ms <= 0) return 100;
    const double best = static_cast<double>(ask.duration_ms) / state.max_speed();
    const double here = static_cast<double>(ask.FinishOn(state, node) - ask.start_ms);
    if (here <= best) return 100;
    return static_cast<int>(100.0 * best / here);
  }
};

}  // namespace

std::unique_ptr<ScorePlugin> MakeMctScorer() {
  return std::make_unique<MctScorer>();
}

}  // namespace muster::sched
