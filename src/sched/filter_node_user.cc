#include "sched/filter_node_user.h"

namespace muster::sched {

namespace {

class NodeUserFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return kNodeUserFilter; }
  bool Admits(const PlacementAsk& ask, const ClusterState& state, int node) const override {
    // Most clusters have no such node: then nothing to look at per candidate.
    return !state.user_restricted() || RunsUser(state.view(node), ask.job->spec->user);
  }
};

}  // namespace

std::unique_ptr<FilterPlugin> MakeNodeUserFilter() {
  return std::make_unique<NodeUserFilter>();
}

}  // namespace muster::sched
