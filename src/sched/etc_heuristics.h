// Batch-mode mapping heuristics for independent tasks over an ETC matrix (Braun et al., 2001;
// Maheswaran et al., 1999). Machines start free at time 0; ready(m) is m's completion time so
// far and ct(t, m) = ready(m) + etc(t, m).
//   olb       tasks in index order, each to the machine that becomes ready first (ignores etc)
//   met       tasks in index order, each to the machine with the smallest etc(t, m)
//   mct       tasks in index order, each to the machine with the smallest ct(t, m)
//   minmin    repeatedly: for each unmapped task its best ct; map the task whose best ct is
//   smallest maxmin    same, but map the task whose best ct is largest sufferage rounds: each
//   unmapped task bids for its best machine with sufferage = second-best
//             ct - best ct; a machine keeps the highest bidder of the round; winners are mapped
//             at the end of the round, losers retry in the next
//   tabu      improvement search seeded with minmin (see etc_tabu.h)
//   memetic   memetic search seeded with minmin, guided by LP prices (see etc_memetic.h)
// Ties always go to the lowest task index, then the lowest machine index, so the same matrix
// gives the same schedule. Pure; no I/O.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "sched/etc_matrix.h"
#include "sched/etc_memetic.h"
#include "sched/etc_tabu.h"

namespace muster::sched {

EtcSchedule OpportunisticLoadBalancing(const EtcMatrix& etc);
EtcSchedule MinimumExecutionTime(const EtcMatrix& etc);
EtcSchedule MinimumCompletionTime(const EtcMatrix& etc);
EtcSchedule MinMin(const EtcMatrix& etc);
EtcSchedule MaxMin(const EtcMatrix& etc);
EtcSchedule Sufferage(const EtcMatrix& etc);

// Names accepted by RunEtcHeuristic, in display order.
std::vector<std::string> EtcHeuristicNames();

// Runs the heuristic called `name`; `tabu` uses tabu_options, `memetic` memetic_options. Errors
// on an unknown name.
Result<EtcSchedule> RunEtcHeuristic(const std::string& name, const EtcMatrix& etc,
                                    const TabuOptions& tabu_options = {},
                                    const MemeticOptions& memetic_options = {});

}  // namespace muster::sched
