#include "sched/filter_node_ready.h"

namespace muster::sched {

namespace {

class NodeReadyFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return kNodeReadyFilter; }
  bool Admits(const PlacementAsk&, const ClusterState& state, int node) const override {
    return state.slot(node).ready;
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> MakeNodeReadyFilter() {
  return std::make_unique<NodeReadyFilter>();
}

}  // namespace muster::sched
