// Score "spread": prefer the least-loaded node after the placement (the complement of binpack),
// spreading tasks to reduce interference. Candidates are offered most-free-GPUs first.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kSpreadScorer = "spread";

std::unique_ptr<ScorePlugin> MakeSpreadScorer();

}  // namespace muster::sched
