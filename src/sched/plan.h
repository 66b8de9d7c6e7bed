// The output of every scheduling policy: a Plan, i.e. a schedule table. Each row places one task
// on a node (and its GPUs) with predicted start and finish. Rows with start_now are to be launched
// by the plan applier; the rest are reservations/predictions shown by `muster queue`/`schedule`.
// Same snapshot + same config => same Plan (no hidden randomness).
#pragma once

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/job.h"
#include "core/status.h"

namespace muster::sched {

struct Placement {
  TaskRef task;
  int node = -1;            // index into ClusterSnapshot::nodes
  std::string node_name;
  std::vector<int> gpus;    // local GPU indices, ordered by local rank for gangs
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  TimeMs predicted_start_ms = 0;
  TimeMs predicted_finish_ms = 0;
  bool start_now = false;   // false: a reservation/prediction only
  int gang_rank = -1;       // rank within the gang, or -1
  int local_rank = -1;      // rank among the gang's ranks on this node
  int local_world = 0;      // number of the gang's ranks on this node
  int group_rank = -1;      // index of this node among the gang's nodes
};

struct Unplaced {
  JobId job = 0;
  Status why;  // kUnschedulable (not now) or kInfeasible (never)
};

struct Plan {
  std::vector<Placement> placements;
  std::vector<Unplaced> unplaced;

  // Placements to launch now.
  std::vector<const Placement*> StartNow() const;
};

}  // namespace muster::sched
