// NodeRegistry: the nodes the coordinator knows, their agents' links and the failure detector.
//
// A node is known from the store (after a restart: "recovering", not schedulable until its agent
// registers again) or from a registration. Registration refuses a name whose current link was
// heard from within max(3 s, 3 heartbeat intervals) — a second live agent with the same name —
// and takes over a silent one (almost always the same agent reconnecting before its broken stream
// was noticed; the old link is closed). Liveness: a connected node silent for heartbeat_timeout,
// or a recovering node that has not registered within lost_node_timeout of the start, is overdue;
// the coordinator then marks it lost (MarkLost) and requeues its tasks. Every change of whether a
// node can take work is passed to ClusterState (SetSchedulable): connected, not lost and not
// drained (the coordinator's DrainNode sets and clears the drain).
//
// Not thread-safe: owned by the Coordinator and used under its mutex.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/coordinator/cluster_state.h"
#include "cluster/proto/muster.pb.h"
#include "cluster/store/records.h"
#include "core/clock.h"
#include "core/status.h"

namespace muster::cluster {

// The downlink to one connected agent. Implemented over the gRPC stream (server.cc) and by
// fakes in tests.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // Queues a message to the agent; never blocks. Thread-safe.
  virtual void Send(v1::CoordinatorMessage msg) = 0;
  // Drops the link; the agent must reconnect and register again. Thread-safe.
  virtual void Close() = 0;
};

struct NodeEntry {
  NodeRecord rec;
  std::shared_ptr<AgentChannel> channel;  // null while disconnected
  bool lost = false;
  bool recovering = false;  // known from the store, not yet registered since the restart
  TimeMs last_persisted_ms = 0;
  // Last contact on the coordinator's monotonic clock: what liveness is judged by (rec's
  // last_seen_ms is the wall time, for display and the store).
  TimeMs last_contact_ms = 0;
  std::string containment;  // from its agent's Register
  std::string only_user;    // from its agent's Register: "" = runs every user's tasks
  v1::UsageSample usage;
  struct Reading {
    TimeMs time_ms = 0;
    double cpu_load = 0;           // CPU seconds per second
    std::vector<double> gpu_util;  // 0..1 or -1, per local GPU index
  };
  std::deque<Reading> window;  // heartbeat readings of the last usage_window_ms
  TimeMs last_history_ms = 0;  // last stored usage row

  bool Connected() const { return channel != nullptr && !lost; }
};

struct NodeRegistryOptions {
  DurationMs heartbeat_interval_ms = 1000;
  DurationMs heartbeat_timeout_ms = 10000;
  DurationMs lost_node_timeout_ms = 30000;
  DurationMs fence_grace_ms = 5000;
};

// Times given to the registry (`now`) are on the coordinator's monotonic clock
// (Clock::MonotonicMs), so a step of the wall clock cannot make every node look silent.
class NodeRegistry {
 public:
  // REQUIRES: `cluster` outlives the registry; started_ms is when the coordinator started.
  NodeRegistry(NodeRegistryOptions options, ClusterState* cluster, TimeMs started_ms)
      : options_(options), cluster_(cluster), started_ms_(started_ms) {}

  // A node read from the store: known, recovering, not schedulable.
  void Recover(NodeRecord rec);
  // An agent registers `spec` (its name included) from `address` over `channel` at `now`:
  // kAlreadyExists while another live link holds the name; else the entry, connected.
  Result<NodeEntry*> Register(NodeSpec spec, std::string address,
                              std::shared_ptr<AgentChannel> channel, TimeMs now);
  // The entry of `name` if `channel` is still its link; nullptr otherwise.
  NodeEntry* Linked(const std::string& name, const AgentChannel* channel);
  // The agent's stream ended; the node stays known until its liveness deadline.
  void Disconnect(NodeEntry& n);
  // Nodes past their liveness deadline at `now` that are not lost yet, with why.
  std::vector<std::pair<std::string, std::string>> Overdue(TimeMs now) const;
  // Silence after which a node is lost: its lease, the fence's grace and a margin for the
  // fence's own polling and for delivery (max(1 s, one heartbeat interval)).
  DurationMs LostAfterMs() const;
  // Called before each liveness check. If the previous one was more than half a lease ago (the
  // coordinator was paused or starved), every node's silence restarts at `now`, so none is
  // judged by time the coordinator itself missed; returns the gap then, else 0.
  DurationMs ForgiveGap(TimeMs now);
  // Closes the node's link and marks it lost (not schedulable until it registers again).
  void MarkLost(NodeEntry& n);

  NodeEntry* Find(const std::string& name);
  const NodeEntry* Find(const std::string& name) const;
  const std::map<std::string, NodeEntry>& all() const { return nodes_; }
  std::map<std::string, NodeEntry>& all() { return nodes_; }

 private:
  NodeRegistryOptions options_;
  ClusterState* cluster_;
  TimeMs started_ms_;
  TimeMs last_check_ms_ = 0;
  std::map<std::string, NodeEntry> nodes_;
};

}  // namespace muster::cluster
