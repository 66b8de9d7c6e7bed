// HEFT: Heterogeneous Earliest Finish Time list scheduling of a DAG (Topcuoglu, Hariri and Wu,
// IEEE TPDS 13(3), 2002).
//   1. upward rank: rank(i) = mean_p w(i, p) + max over successors j of (c(i, j) + rank(j)),
//      exit tasks rank = their mean cost; c is the edge's communication cost (one uniform network,
//      so the mean communication cost is the edge cost itself);
//   2. tasks are taken in decreasing rank (ranks within a relative 1e-9 count as equal and go to
//      the lower task index; among equal ranks only tasks whose predecessors are placed are taken);
//   3. each task goes to the processor giving the earliest finish time, using insertion: it may
//      start in an idle gap between tasks already on that processor if the gap is long enough and
//      starts after its data are ready (predecessor finish + c when on another processor, + 0 on
//      the same one). Ties go to the lowest processor index.
// Pure and deterministic.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "sched/heft_dag.h"

namespace muster::sched {

struct HeftSlot {
  int task = 0;
  int processor = 0;
  double start = 0;
  double finish = 0;
};

struct HeftSchedule {
  std::vector<double> upward_rank;     // per task
  std::vector<int> order;              // tasks in the order they were scheduled
  std::vector<HeftSlot> rows;          // one per task, in scheduling order
  std::vector<int> processor_of;       // per task
  std::vector<double> processor_busy;  // total computation time on each processor
  double makespan = 0;
};

// Upward ranks of every task. REQUIRES: TopologicalOrder(dag).ok().
std::vector<double> UpwardRanks(const Dag& dag);

// Schedules `dag` with HEFT. Errors if the DAG is malformed (see TopologicalOrder).
Result<HeftSchedule> Heft(const Dag& dag);

}  // namespace muster::sched
