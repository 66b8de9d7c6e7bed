// Filter "node-ready": only nodes in state kReady take new work (draining and lost nodes do
// not). The candidate index already skips them; the filter states the rule for pinned nodes.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kNodeReadyFilter = "node-ready";

std::unique_ptr<FilterPlugin> MakeNodeReadyFilter();

}  // namespace muster::sched
