// Filter "resource-fit": the node has enough free CPU, memory and qualifying GPUs (count,
// per-GPU memory, model) for ask.ranks tasks, honouring an installed reservation guard.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kResourceFitFilter = "resource-fit";

std::unique_ptr<FilterPlugin> MakeResourceFitFilter();

}  // namespace muster::sched
