// ClusterState: the free CPU, memory and GPUs of every known node, kept up to date on every
// allocation and release instead of being recomputed from all tasks on every pass.
//
// A task holds resources on its node from the moment it is launching until it has stopped
// (TaskRecord::Active). JobTable reports each such change through Hold / Release, keyed by the
// task, so the state never depends on the caller remembering what it took. A node's free capacity
// is its spec minus its holdings (core Take/Release); when a node registers again with another
// spec, its free capacity is rebuilt from its holdings. A holding may name a node that is not
// (yet) known, e.g. a task adopted after a restart before its agent re-registered: it is kept and
// counted once the node arrives.
//
// Schedulable = the node's agent is connected and the node is not lost; only schedulable nodes
// are offered to the scheduler, but every known node's free capacity is kept (for `nodes`).
//
// Not thread-safe: owned by the Coordinator and used under its mutex.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/job.h"
#include "core/node.h"
#include "core/resources.h"
#include "sched/snapshot.h"

namespace muster::cluster {

class ClusterState {
 public:
  // Adds or replaces a node's spec; its free capacity is rebuilt from its holdings.
  void SetNode(const NodeSpec& spec);
  void SetSchedulable(const std::string& node, bool schedulable);

  // A task starts holding `r` with these GPUs (positions in the node's GPU list) on `node`.
  // Holding the same task twice replaces the earlier holding.
  void Hold(const std::string& node, TaskRef task, const ResourceRequest& r,
            const std::vector<int>& gpus);
  // The task no longer holds anything (no-op if it held nothing there).
  void Release(const std::string& node, TaskRef task);

  // Whether the node is known and may take work now.
  bool Schedulable(const std::string& node) const;
  // Free capacity of a known node; nullptr for an unknown one.
  const NodeFree* Free(const std::string& node) const;
  // Schedulable nodes as the scheduler's input, ordered by name.
  std::vector<sched::NodeView> SchedulableViews() const;
  // Free capacity of the schedulable nodes, by name.
  std::map<std::string, NodeFree> SchedulableFree() const;
  // Number of tasks holding resources on `node`.
  int Holders(const std::string& node) const;
  // The tasks holding resources on `node`, each with its GPUs (positions in the node's list).
  std::vector<std::pair<TaskRef, std::vector<int>>> HoldingsOn(const std::string& node) const;
  // The tasks holding GPUs on `node`, each with its GPUs (positions in the node's GPU list).
  std::vector<std::pair<TaskRef, std::vector<int>>> GpuHoldings(const std::string& node) const;

 private:
  struct Holding {
    ResourceRequest request;
    std::vector<int> gpus;
  };
  struct Node {
    NodeSpec spec;
    bool known = false;  // SetNode was called (else: only holdings so far)
    bool schedulable = false;
    NodeFree free;
    std::map<TaskRef, Holding> holdings;
  };
  void Rebuild(Node& n);

  std::map<std::string, Node> nodes_;
};

}  // namespace muster::cluster
