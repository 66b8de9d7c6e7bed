#include "sched/filter_resource_fit.h"

namespace muster::sched {

namespace {

class ResourceFitFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return kResourceFitFilter; }
  bool Admits(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    return state.TasksThatFit(node, ask.shape, ask.FinishOn(state, node)) >= ask.ranks;
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> MakeResourceFitFilter() {
  return std::make_unique<ResourceFitFilter>();
}

}  // namespace muster::sched
