#include "cluster/coordinator/cluster_state.h"

#include "core/capacity.h"

namespace muster::cluster {

void ClusterState::Rebuild(Node& n) {
  n.free = NodeFree::AllFree(n.spec);
  for (const auto& [task, h] : n.holdings) muster::Take(n.free, h.request, h.gpus);
}

void ClusterState::SetNode(const NodeSpec& spec) {
  Node& n = nodes_[spec.name];
  n.spec = spec;
  n.known = true;
  Rebuild(n);
}

void ClusterState::SetSchedulable(const std::string& node, bool schedulable) {
  auto it = nodes_.find(node);
  if (it != nodes_.end()) it->second.schedulable = schedulable && it->second.known;
}

void ClusterState::Hold(const std::string& node, TaskRef task, const ResourceRequest& r,
                        const std::vector<int>& gpus) {
  Node& n = nodes_[node];
  auto it = n.holdings.find(task);
  if (it != n.holdings.end()) {
    muster::Release(n.free, it->second.request, it->second.gpus);
    n.holdings.erase(it);
  }
  n.holdings.emplace(task, Holding{r, gpus});
  muster::Take(n.free, r, gpus);
}

void ClusterState::Release(const std::string& node, TaskRef task) {
  auto n = nodes_.find(node);
  if (n == nodes_.end()) return;
  auto it = n->second.holdings.find(task);
  if (it == n->second.holdings.end()) return;
  muster::Release(n->second.free, it->second.request, it->second.gpus);
  n->second.holdings.erase(it);
}

bool ClusterState::Schedulable(const std::string& node) const {
  auto it = nodes_.find(node);
  return it != nodes_.end() && it->second.schedulable;
}

const NodeFree* ClusterState::Free(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() || !it->second.known ? nullptr : &it->second.free;
}

std::vector<sched::NodeView> ClusterState::SchedulableViews() const {
  std::vector<sched::NodeView> out;
  for (const auto& [name, n] : nodes_)
    if (n.schedulable) out.push_back({n.spec, NodeState::kReady, n.free, {}});
  return out;
}

std::map<std::string, NodeFree> ClusterState::SchedulableFree() const {
  std::map<std::string, NodeFree> out;
  for (const auto& [name, n] : nodes_)
    if (n.schedulable) out.emplace(name, n.free);
  return out;
}

std::vector<std::pair<TaskRef, std::vector<int>>> ClusterState::GpuHoldings(
    const std::string& node) const {
  std::vector<std::pair<TaskRef, std::vector<int>>> out;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return out;
  for (const auto& [task, h] : it->second.holdings)
    if (!h.gpus.empty()) out.emplace_back(task, h.gpus);
  return out;
}

std::vector<std::pair<TaskRef, std::vector<int>>> ClusterState::HoldingsOn(
    const std::string& node) const {
  std::vector<std::pair<TaskRef, std::vector<int>>> out;
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return out;
  for (const auto& [task, h] : it->second.holdings) out.emplace_back(task, h.gpus);
  return out;
}

int ClusterState::Holders(const std::string& node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : static_cast<int>(it->second.holdings.size());
}

}  // namespace muster::cluster
