// Queue policy "priority": higher JobSpec::priority first, FIFO among equals.
#pragma once

#include <memory>

#include "sched/queue_policy.h"

namespace muster::sched {

inline constexpr std::string_view kPriorityPolicy = "priority";

std::unique_ptr<QueuePolicy> MakePriorityPolicy();

}  // namespace muster::sched
