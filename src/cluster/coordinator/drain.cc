// Draining nodes for maintenance (see Coordinator::DrainNode).
#include <spdlog/spdlog.h>

#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

namespace {

constexpr size_t kMaxReason = 1024;

}  // namespace

std::string Coordinator::NodeStateText(const NodeEntry& n) const {
  if (n.lost) return "lost";
  if (n.recovering) return "unconfirmed";  // known from the store, not back yet
  if (!n.channel) return "unreachable";    // link down; lost unless it returns
  if (n.rec.Drained()) return cluster_.Holders(n.rec.spec.name) > 0 ? "draining" : "drained";
  return NodeStateName(NodeState::kReady);
}

int Coordinator::MigrateOff(const std::string& node, const std::string& why) {
  int moved = 0;
  const std::vector<JobId> ids(jobs_.active().begin(), jobs_.active().end());
  for (JobId id : ids) {
    JobRecord& j = jobs_.Get(id);
    if (!j.spec->checkpointable || j.gang_stopping || !j.migrate_reason.empty() ||
        IsTerminal(j.state))
      continue;
    bool here = false;
    for (const auto& t : j.tasks)
      here = here || (t.Active() && t.node == node && !t.stop_requested);
    if (!here) continue;
    // A gang moves whole: every rank stops; other jobs only their tasks on this node.
    j.migrate_reason = "moved off " + node + ": " + why;
    for (auto& t : j.tasks) {
      if (!t.Active() || t.stop_requested || (!j.spec->gang && t.node != node)) continue;
      StopToMove(j, t, "drain");
    }
    store_->UpdatePin(j);
    AddHistory(j, j.migrate_reason);
    ++moved;
  }
  return moved;
}

Result<DrainView> Coordinator::DrainNode(const std::string& node, const std::string& reason,
                                         bool migrate, const std::string& by) {
  if (reason.empty())
    return Status::InvalidArgument("a drain needs a reason (--reason TEXT), shown in muster nodes");
  if (reason.size() > kMaxReason)
    return Status::InvalidArgument("the drain reason is longer than " + std::to_string(kMaxReason) +
                                   " bytes");
  DrainView reply;
  StateStore::Ticket ticket;
  {
    MutexLock lock(mu_);
    if (!read_only_.ok()) return read_only_;
    NodeEntry* n = nodes_.Find(node);
    if (!n) return Status::NotFound("no node named '" + node + "' (see muster nodes)");
    if (!n->rec.Drained()) n->rec.drain_ms = clock_->NowMs();
    n->rec.drain_reason = reason;
    n->rec.drained_by = by;
    cluster_.SetSchedulable(node, false);
    ticket = store_->UpdateDrain(n->rec);
    spdlog::info("node {} drained by {}: {}", node, by, reason);
    reply = {.node = node,
             .migrating_jobs = migrate ? MigrateOff(node, "drained: " + reason) : 0};
    reply.state = NodeStateText(*n);
    reply.running_tasks = cluster_.Holders(node);
  }
  if (Status s = store_->Wait(ticket); !s.ok()) return s;
  return reply;
}

Result<DrainView> Coordinator::UndrainNode(const std::string& node) {
  DrainView reply;
  StateStore::Ticket ticket;
  {
    MutexLock lock(mu_);
    if (!read_only_.ok()) return read_only_;
    NodeEntry* n = nodes_.Find(node);
    if (!n) return Status::NotFound("no node named '" + node + "' (see muster nodes)");
    n->rec.drain_ms = 0;
    n->rec.drain_reason.clear();
    n->rec.drained_by.clear();
    cluster_.SetSchedulable(node, n->Connected());
    ticket = store_->UpdateDrain(n->rec);
    spdlog::info("node {} undrained", node);
    reply = {.node = node, .state = NodeStateText(*n), .running_tasks = cluster_.Holders(node)};
  }
  if (Status s = store_->Wait(ticket); !s.ok()) return s;
  Kick();
  return reply;
}

}  // namespace muster::cluster
