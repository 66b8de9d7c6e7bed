// Memetic search for the makespan of an ETC mapping, guided by machine prices from the LP lower
// bound. Started from a given schedule (normally Min-min); never returns a worse one.
//
// 1. Prices and lower bound. The LP relaxation of the problem (tasks may be split across
//    machines) has the dual  max over prices p >= 0 with sum_m p_m = 1  of  sum_t min_m p_m
//    etc(t, m): any such p bounds the makespan from below, because makespan >= sum_m p_m load(m)
//    >= sum_t min_m p_m etc(t, m). `price_iterations` rounds of exponentiated subgradient ascent
//    (the subgradient is the loads of the assignment that is cheapest at the current prices)
//    find good prices; the best bound and its prices are kept.
// 2. Construction. Unplaced tasks are taken by decreasing regret (second-cheapest minus cheapest
//    priced cost p_m etc(t, m)); each goes to its cheapest machine whose load stays within a cap
//    of lower bound x (1 + slack), else to the machine where it completes first. The prices get
//    a seeded noise of +-0.1% and the slack is drawn from [0.5%, 4%], so constructions differ.
// 3. Local search on the critical machine c (the largest load): apply the move of a task on c to
//    another machine m that gives the smallest max(new load c, new load m); if no move brings
//    both below load c, the best such swap of a task on c with a task on m; stop when neither
//    exists. Ties go to the less loaded m, then to the longer task on c. Each candidate is
//    evaluated in O(1) from the machine loads (incremental makespan, never a pass over the
//    tasks); each machine's tasks are kept sorted by their time there, so the scans stop at the
//    first task on c too short, or partner on m too short, to get below the best pair so far.
// 4. Population. `population` schedules: the start after local search, and constructions. Each
//    generation breeds one child: one in five is a fresh construction, the others a crossover of
//    two distinct random members (tasks on which both agree keep their machine, the rest are
//    placed around them by the construction of step 2). The child gets the local search and
//    replaces the worst member if it is better and no member has the same makespan.
// Stops after `max_generations` children or, when a clock and a time budget are given, at the
// first check after the budget has passed (checks are made between generations; step 1 always
// runs its `price_iterations`). Randomness comes only from std::mt19937_64(seed): with an iteration
// budget the result is deterministic; with a time budget it depends on how fast the machine runs.
// Pure: the clock is injected. Not thread-safe per call; separate calls share nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "core/clock.h"
#include "sched/etc_matrix.h"

namespace muster::sched {

struct MemeticOptions {
  uint64_t seed = 1;
  int max_generations = 20000;  // children bred after the initial population
  int population = 10;
  int price_iterations = 2000;
  // With both set, the search also stops once time_budget_ms have passed on the clock's
  // MonotonicMs(). The clock must outlive the call.
  const Clock* clock = nullptr;
  DurationMs time_budget_ms = 0;
};

struct MemeticStats {
  int generations = 0;   // children bred after the initial population
  int improvements = 0;  // times a child was better than every member so far
  double start_makespan = 0;
  double lower_bound = 0;  // the LP bound of step 1 (0 when the search returns at once)
};

// Improves `start` (a complete schedule for `etc`). Returns the best schedule found, its rows
// grouped by machine, tasks in index order, heuristic name "memetic"; if nothing beats the start,
// the start itself (renamed). Its makespan is never above start.makespan.
EtcSchedule MemeticSearch(const EtcMatrix& etc, const EtcSchedule& start,
                          const MemeticOptions& options, MemeticStats* stats = nullptr);

struct EtcPriceBound {
  double makespan = 0;         // a lower bound on the makespan of every schedule
  std::vector<double> prices;  // one per machine, summing to 1, that give it
};

// Step 1 above on its own: `iterations` rounds of subgradient ascent. More rounds give a bound
// closer to the LP optimum. REQUIRES: etc.machines() > 0.
EtcPriceBound LagrangianBound(const EtcMatrix& etc, int iterations);

}  // namespace muster::sched
