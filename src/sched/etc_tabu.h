// Tabu search for the makespan of an ETC mapping, started from a given schedule (normally Min-min).
//
// Neighbourhood (all moves touch the critical machine c, the one with the largest load):
//   move  t on c -> machine m;
//   swap  t on c <-> u on m.
// Each iteration evaluates every move and swap and applies the best admissible one, ranked by
// (new makespan, new max(load c, load m), change of load c + load m), even when it makes the
// makespan worse. After a task leaves machine c it may not return to c for `tenure` (plus a
// seeded jitter in [0, tenure)) iterations, unless the move yields a makespan below the best seen
// (aspiration). After `stall_limit` iterations without a new best, the search restarts from the
// best schedule with `kick_moves` random moves (the only use of randomness, from a
// std::mt19937_64 seeded with `seed`). It stops after `max_iterations`.
// Deterministic: same matrix, start and options give the same schedule. Pure; no clock: the
// budget is counted in iterations (see docs/models.md for measured times).
#pragma once

#include <cstdint>

#include "sched/etc_matrix.h"

namespace muster::sched {

struct TabuOptions {
  uint64_t seed = 1;
  int max_iterations = 100000;
  int tenure = 16;
  int stall_limit = 500;
  int kick_moves = 12;
};

struct TabuStats {
  int iterations = 0;
  int improvements = 0;  // times a new best was found
  int restarts = 0;
  double start_makespan = 0;
};

// Improves `start` (a complete schedule for `etc`); returns the best schedule found, its rows
// grouped by machine, tasks in index order. Its heuristic name is "tabu".
EtcSchedule TabuSearch(const EtcMatrix& etc, const EtcSchedule& start, const TabuOptions& options,
                       TabuStats* stats = nullptr);

}  // namespace muster::sched
