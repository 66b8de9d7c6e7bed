#include "cluster/coordinator/node_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace muster::cluster {

void NodeRegistry::Recover(NodeRecord rec) {
  const std::string name = rec.spec.name;
  NodeEntry& e = nodes_[name];
  e.rec = std::move(rec);
  e.recovering = true;
  e.last_persisted_ms = e.rec.last_seen_ms;
  cluster_->SetNode(e.rec.spec);  // not schedulable until its agent registers again
}

Result<NodeEntry*> NodeRegistry::Register(NodeSpec spec, std::string address,
                                          std::shared_ptr<AgentChannel> channel, TimeMs now) {
  const std::string name = spec.name;
  NodeEntry& n = nodes_[name];
  if (n.channel) {
    // A link heard from recently belongs to a live agent: refuse the newcomer. A silent one is
    // most likely the same agent's dead connection (not yet noticed): replace it.
    const DurationMs stale_after = std::max<DurationMs>(3000, 3 * options_.heartbeat_interval_ms);
    if (now - n.last_contact_ms < stale_after)
      return Status::AlreadyExists("an agent named '" + name +
                                   "' is already connected; stop it or choose another --name");
    spdlog::warn("agent {} registers again while its old link is silent; replacing the link", name);
    n.channel->Close();
    n.channel.reset();
  }
  n.rec.spec = std::move(spec);
  n.rec.address = std::move(address);
  n.rec.last_seen_ms = now;  // the caller sets the wall time
  n.last_contact_ms = now;
  n.last_persisted_ms = now;
  n.channel = std::move(channel);
  n.lost = false;
  n.recovering = false;
  cluster_->SetNode(n.rec.spec);
  cluster_->SetSchedulable(name, !n.rec.Drained());
  return &n;
}

NodeEntry* NodeRegistry::Linked(const std::string& name, const AgentChannel* channel) {
  auto it = nodes_.find(name);
  return it == nodes_.end() || it->second.channel.get() != channel ? nullptr : &it->second;
}

void NodeRegistry::Disconnect(NodeEntry& n) {
  n.channel.reset();
  cluster_->SetSchedulable(n.rec.spec.name, false);
}

DurationMs NodeRegistry::LostAfterMs() const {
  return options_.heartbeat_timeout_ms + options_.fence_grace_ms +
         std::max<DurationMs>(1000, options_.heartbeat_interval_ms);
}

DurationMs NodeRegistry::ForgiveGap(TimeMs now) {
  const DurationMs gap = last_check_ms_ > 0 ? now - last_check_ms_ : 0;
  last_check_ms_ = now;
  if (gap <= options_.heartbeat_timeout_ms / 2) return 0;
  for (auto& [name, n] : nodes_)
    if (!n.lost && !n.recovering) n.last_contact_ms = std::max(n.last_contact_ms, now);
  return gap;
}

std::vector<std::pair<std::string, std::string>> NodeRegistry::Overdue(TimeMs now) const {
  std::vector<std::pair<std::string, std::string>> out;
  const DurationMs lost_after = LostAfterMs();
  for (const auto& [name, n] : nodes_) {
    if (n.lost) continue;
    const TimeMs deadline =
        n.recovering ? started_ms_ + std::max(options_.lost_node_timeout_ms, lost_after)
                     : n.last_contact_ms + lost_after;
    if (now > deadline)
      out.emplace_back(name, n.recovering
                                 ? "did not re-register after the coordinator restarted"
                                 : "no heartbeat for " +
                                       std::to_string((now - n.last_contact_ms) / 1000) +
                                       " s; its lease and stop grace have run out");
  }
  return out;
}

void NodeRegistry::MarkLost(NodeEntry& n) {
  if (n.channel) n.channel->Close();
  n.channel.reset();
  cluster_->SetSchedulable(n.rec.spec.name, false);
  n.lost = true;
  n.recovering = false;
}

NodeEntry* NodeRegistry::Find(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const NodeEntry* NodeRegistry::Find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

}  // namespace muster::cluster
