// Queue policy "fifo": first submitted, first considered (ties: smaller job id).
#pragma once

#include <memory>

#include "sched/queue_policy.h"

namespace muster::sched {

inline constexpr std::string_view kFifoPolicy = "fifo";

std::unique_ptr<QueuePolicy> MakeFifoPolicy();

}  // namespace muster::sched
