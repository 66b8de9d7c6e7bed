// Score "binpack": prefer the node that is fullest after the placement (GPUs weigh double, then CPU
// and memory), so that whole nodes stay free for gangs and can idle (energy). Candidates are
// offered fewest-free-GPUs first, so the first feasible nodes are already the tightest.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kBinpackScorer = "binpack";

std::unique_ptr<ScorePlugin> MakeBinpackScorer();

}  // namespace muster::sched
