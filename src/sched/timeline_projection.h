// The schedule table for jobs that do not start now: predicted start and finish rows.
//
// After the pass, the remaining jobs are replayed on the release timeline: at each instant
// (starting now) the waiting jobs are offered, in order, the capacity free at that instant;
// a job that does not fit blocks every job behind it (strict order, no backfill in the
// projection), while a job held back only by its array throttle does not block. Then the clock
// moves to the next predicted finish, which credits the released resources (and counts throttled
// tasks down), and the walk repeats. Each placed task adds its own predicted finish to the
// timeline. The reservation holder (EASY head) is put first, so its predicted start is its
// reservation; other predictions are conservative: later backfill may start jobs earlier.
//
// Horizon: only the first max_jobs waiting jobs are projected (the rest have no rows and say
// so); a job also stays without rows if the timeline runs dry before it fits (capacity held by
// something the snapshot does not list as running). Cost: every task placed once, every release
// credited once; a blocked job is retried once per distinct release instant.
// Pure; not thread-safe.
#pragma once

#include <vector>

#include "sched/placement_pipeline.h"
#include "sched/plan.h"
#include "sched/timeline.h"

namespace muster::sched {

struct WaitingJob {
  int queue_index = 0;         // into snapshot.queue
  int first_task = 0;          // pending_tasks[first_task..] did not start now
  TimeMs first_start_ms = -1;  // out: earliest predicted start, -1 if not projected
  bool complete = false;       // out: every task got a row
};

struct ProjectionInputs {
  const ClusterSnapshot* snapshot = nullptr;
  const PlacementPipeline* pipeline = nullptr;
  std::vector<TaskShape> shapes;        // per queue index
  std::vector<int>* running = nullptr;  // per queue index: tasks running (throttles)
  int max_jobs = 10000;
};

// Appends predicted rows (start_now = false) for `waiting`, in its order, to `rows`, consuming
// `state` and `timeline` (releases carry the queue index as owner).
void ProjectQueue(const ProjectionInputs& in, ClusterState& state, ReleaseTimeline& timeline,
                  std::vector<WaitingJob>& waiting, std::vector<Placement>* rows);

}  // namespace muster::sched
