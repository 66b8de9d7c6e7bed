// Queue policy "sjf" (shortest predicted first): smaller predicted run time per task
// (PendingJob::predicted_duration_ms) first, FIFO among equals. A job with no prediction (0)
// counts as shortest; the caller fills predictions from the model before the pass.
#pragma once

#include <memory>

#include "sched/queue_policy.h"

namespace muster::sched {

inline constexpr std::string_view kSjfPolicy = "sjf";

std::unique_ptr<QueuePolicy> MakeSjfPolicy();

}  // namespace muster::sched
