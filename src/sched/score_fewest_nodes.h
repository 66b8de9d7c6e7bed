// Score "fewest-nodes": for gangs, prefer the node that can hold the most of the ranks still to
// place (fewer nodes, less cross-node traffic). Neutral (100) for single tasks. The pipeline
// adds it to every gang placement even when not configured.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kFewestNodesScorer = "fewest-nodes";

std::unique_ptr<ScorePlugin> MakeFewestNodesScorer();

}  // namespace muster::sched
