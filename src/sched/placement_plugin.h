// Extension points of the placement pipeline (filter -> score -> select), one narrow interface
// each, as in the Kubernetes scheduler framework:
//   FilterPlugin  — may this node take `ask.ranks` tasks of the ask now? (hard constraint)
//   ScorePlugin   — how good is this node for the ask, as an integer 0..100 (higher is better)?
// A plugin implements one point, lives in its own file with a name constant and a factory, and is
// registered in a PluginRegistry value (placement_registry.h), never in a global.
// Plugins are stateless between calls; they see the pass's ClusterState read-only.
#pragma once

#include <memory>
#include <string_view>

#include "sched/placement_state.h"

namespace muster::sched {

// One placement question: put `ranks` tasks of `shape` on one node, starting at start_ms.
struct PlacementAsk {
  const PendingJob* job = nullptr;
  TaskShape shape;
  int ranks = 1;               // tasks that must land together on the node
  int gang_remaining = 0;      // gang ranks still to place (0 for a single task)
  DurationMs duration_ms = 0;  // predicted run time at speed 1.0
  TimeMs start_ms = 0;

  // Predicted finish on `node`: start + duration / node speed (a negative duration counts as 0).
  TimeMs FinishOn(const ClusterState& state, int node) const {
    if (duration_ms <= 0) return start_ms;
    return start_ms + static_cast<DurationMs>(static_cast<double>(duration_ms) / state.speed(node));
  }
};

// In which order the pipeline should offer candidate nodes so that the first feasible ones are
// the best for this scorer; kAny means the scorer needs to see every feasible node.
enum class CandidateOrder { kFewestFreeGpusFirst, kMostFreeGpusFirst, kAny };

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string_view name() const = 0;
  // True if the node can take ask.ranks tasks of the ask now.
  virtual bool Admits(const PlacementAsk& ask, const ClusterState& state, int node) const = 0;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string_view name() const = 0;
  // 0..100, higher is better. Called only for nodes every filter admitted.
  virtual int Score(const PlacementAsk& ask, const ClusterState& state, int node) const = 0;
  virtual CandidateOrder order() const { return CandidateOrder::kAny; }
};

}  // namespace muster::sched
