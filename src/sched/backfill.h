// EASY backfill: the reservation of the head job and the guard that protects it.
//
// The head is the first job in queue order that cannot start now for lack of resources (a job
// held back only by its array throttle is not a head). ReserveHead walks the release timeline
// on copies of the state: at each predicted finish it credits the released resources and asks the
// placement pipeline whether the head fits; the first such instant T, with the nodes and GPUs the
// pipeline chose, is the reservation. For a gang the reservation covers all ranks; for a plain or
// array job it covers the next task only (its other tasks are independent and queue behind it).
//
// GuardFor turns the reservation into a ReservationGuard: on each reserved node, the GPUs the
// head will use, and the CPU and memory that remain spare at T once the head is placed. Installed
// in the ClusterState, it lets a later job start now on a reserved node only if it finishes by T
// or uses neither the reserved GPUs nor more than the spare CPU/memory. Jobs on other nodes are
// unconstrained. So a backfilled job can never delay the head's predicted start T (given the
// predictions); this is tested as a randomized property.
// Pure; not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "sched/placement_pipeline.h"
#include "sched/timeline.h"

namespace muster::sched {

struct Reservation {
  JobId job = 0;
  TimeMs start_ms = 0;
  std::vector<GangGroup> groups;  // nodes and grants the head would use at start_ms
  ReservationGuard guard;
};

// The earliest instant the head fits on `state` as releases come in, or nullopt if it does not
// fit even after every release. ask.start_ms is ignored (the walk sets it). ranks = 1 for a
// single task. Works on copies: state and timeline are unchanged.
std::optional<Reservation> ReserveHead(const PlacementPipeline& pipeline, const PlacementAsk& ask,
                                       bool gang, int ranks, int ranks_per_node, int pinned,
                                       const ClusterState& state, const ReleaseTimeline& timeline);

}  // namespace muster::sched
