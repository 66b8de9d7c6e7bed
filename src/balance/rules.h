// Internal: the balancer's three rules (defragmentation, steal/retarget, heterogeneity) over one
// shared decision state. Each rule reads RuleInput, debits RuleState::room for every move it
// emits, marks moved jobs, and writes notes explaining why it did not act. See balancer.h for
// the order and the guards; docs/balancer.md for the formulas. Not part of the public API.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "balance/room.h"

namespace muster::balance {

struct RuleInput {
  const sched::ClusterSnapshot& snapshot;
  const BalancerConfig& config;
  const BalanceContext& context;
  const sched::Plan& plan;
  TimeMs now = 0;
  std::vector<RunningUnit> units;
  const std::map<JobId, TimeMs>& last_move_ms;
  // Per node, the plan's rows that start later (reservations and predictions).
  std::vector<std::vector<const sched::Placement*>> reserved;

  // True if a row of a job other than `except` is planned to start on `node` before finish_ms,
  // i.e. work placed there now and running until finish_ms would delay it.
  bool ReservedBefore(int node, JobId except, double finish_ms) const;

  // Node speed times its measured speed factor.
  double EffectiveSpeed(int node) const;
  // Remaining work of a unit in reference seconds (seconds at speed 1.0): its predicted
  // remaining time, made at the node's spec speed, times that speed.
  double RemainingWork(const RunningUnit& u) const;
  // The job's migration cost estimate (per-job, else the default).
  const MoveCostEstimate& CostOf(JobId job) const;
  // False while the job is inside its no-ping-pong window.
  bool OutsideWindow(JobId job) const;
};

struct RuleState {
  Room room;
  std::set<JobId> moved;  // jobs with a move this period
  std::vector<Move> moves;
  int rebalancing_moves = 0;  // steal, retarget and heterogeneity moves
  std::vector<std::string> notes;

  bool Movable(const RuleInput& in, JobId job) const {
    return moved.count(job) == 0 && in.OutsideWindow(job);
  }
};

// Frees one node for the first pending multi-GPU job blocked only by fragmentation.
void Defragment(const RuleInput& in, RuleState& st);
// Starts pending tasks now on nodes with room when they would finish earlier than planned.
void StealAndRetarget(const RuleInput& in, RuleState& st);
// Migrates checkpointable jobs to faster nodes with room when gain > cost.
void MigrateToFaster(const RuleInput& in, RuleState& st);

// "%.1f" of a double, for reasons.
std::string Fmt(double v);

}  // namespace muster::balance
