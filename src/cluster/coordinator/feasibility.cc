#include "cluster/coordinator/feasibility.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "core/capacity.h"

namespace muster::cluster {

Status CheckFeasible(const JobSpec& spec, const std::vector<NodeSpec>& nodes) {
  const NodeSpec* largest = nullptr;
  for (const auto& n : nodes) {
    if (!largest || std::tuple(n.gpus.size(), n.milli_cpus, n.memory_mib) >
                        std::tuple(largest->gpus.size(), largest->milli_cpus, largest->memory_mib))
      largest = &n;
  }
  if (!largest) return Status::Infeasible("the cluster has no nodes");
  const ResourceRequest& r = spec.resources;
  const std::string largest_text = "largest node " + largest->Describe();
  bool any =
      std::any_of(nodes.begin(), nodes.end(), [&](const NodeSpec& n) { return n.CouldEverFit(r); });
  if (!any)
    return Status::Infeasible("no node can ever run a task needing " + r.ToString() + "; " +
                              largest_text);
  if (!spec.gang) return Status::Ok();
  int ranks = 0;
  for (const auto& n : nodes) {
    int k = IdleTasksThatFit(n, r);
    if (spec.ranks_per_node > 0) k = k >= spec.ranks_per_node ? spec.ranks_per_node : 0;
    ranks += k;
  }
  if (ranks < spec.tasks) {
    int total_gpus = 0;
    for (const auto& n : nodes) total_gpus += static_cast<int>(n.gpus.size());
    return Status::Infeasible("gang of " + std::to_string(spec.tasks) + " ranks (" + r.ToString() +
                              " each) cannot fit: an idle cluster holds " + std::to_string(ranks) +
                              " such ranks (" + std::to_string(nodes.size()) + " nodes, " +
                              std::to_string(total_gpus) + " gpus in total); " + largest_text);
  }
  return Status::Ok();
}

}  // namespace muster::cluster
