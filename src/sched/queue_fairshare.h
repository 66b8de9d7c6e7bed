// Queue policy "fairshare": dominant resource fairness (DRF) across users.
//
// A user's dominant share is the largest fraction of the cluster's CPU, memory or GPUs that the
// user holds. The starting share is PendingJob::user_dominant_share, which the caller fills from
// its running tasks (RunningTask carries no user, so the scheduler cannot derive it; the
// coordinator and the simulator know each job's user). The order is then built by progressive
// filling: repeatedly take the user with the smallest share (ties: user name), emit that user's
// oldest pending job (FIFO within a user), and raise the user's share by the job's own dominant
// share (pending tasks x per-task request / cluster capacity). Users thus interleave in the
// order DRF would serve them if every job fitted. Capacity counts every node in the snapshot.
#pragma once

#include <memory>

#include "sched/queue_policy.h"

namespace muster::sched {

inline constexpr std::string_view kFairSharePolicy = "fairshare";

std::unique_ptr<QueuePolicy> MakeFairSharePolicy();

// The dominant share of `tasks` tasks of request r on a cluster of the given capacity.
double DominantShare(const ResourceRequest& r, int tasks, const ScalarResources& capacity);

}  // namespace muster::sched
