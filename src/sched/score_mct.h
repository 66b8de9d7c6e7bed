// Score "mct" (minimum completion time): prefer the node where the task is predicted to finish
// first. Every candidate can start the task at ask.start_ms, so the finish is start + duration /
// node speed and the score is 100 * (fastest finish duration) / (this node's finish duration).
// Needs every feasible node (CandidateOrder::kAny): speed is not indexed.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kMctScorer = "mct";

std::unique_ptr<ScorePlugin> MakeMctScorer();

}  // namespace muster::sched
