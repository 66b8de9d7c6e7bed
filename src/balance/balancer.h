// The load balancer: each period it evaluates the cluster's load and proposes Moves.
//
// Decide(snapshot, context), once per period:
//   1. Evaluate node and GPU loads (load.h) and the balance metrics.
//   2. Hysteresis: the node imbalance factor lambda = max/mean - 1 is compared with the
//      threshold; `streak` counts consecutive periods above it (reset by any period below).
//      Rebalancing moves (steal, retarget, heterogeneity migration) are considered only when
//      streak >= k. After a period that emits a rebalancing move in mode `on`, the streak restarts
//      at 0, so the next rebalancing needs k more periods over the threshold.
//   3. Rules, in this order, sharing one view of free capacity so that moves never collide:
//      a. defragmentation (not gated by lambda: a blocked job is a capacity problem, not an
//         imbalance): a pending job needing several GPUs on one node that fits nowhere although
//         enough GPUs are free in total gets a node freed by migrating checkpointable jobs away
//         (the node that needs the fewest moves, then the cheapest, then the lowest index);
//      b. work stealing / re-targeting: pending tasks that the plan starts later on a busy node
//         start now on a node with room if they finish earlier there;
//      c. heterogeneity: a checkpointable job whose remaining work would finish earlier on a
//         faster (or less degraded) node with room, after paying checkpoint + restart, moves.
//   4. Every move needs gain_s > cost_s + min_net_gain_s. A non-checkpointable job is never
//      migrated; a job's running tasks move together (all ranks of a gang) and only when they
//      all sit on one node; a job that moved is not migrated or retargeted again within
//      no_ping_pong_ms (more tasks of an array job may still be stolen: stolen tasks start at
//      once and cannot bounce); a job is migrated at most once per period.
//   5. Mode off: nothing is evaluated or returned. Dry-run: moves are returned with
//      apply = false and do not enter the move history. On: apply = true, and the moved jobs'
//      times are recorded (the caller may ForgetMove a move it could not apply).
//
// Time comes in as BalanceContext::now_ms; calls less than `period_ms` after the last counted
// period return an empty decision with due = false (and do not advance the hysteresis).
// Not thread-safe: one owner calls Decide (the coordinator's balancer loop, or the simulator).
// Pure: no I/O, clock or threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "balance/load.h"
#include "balance/move.h"
#include "core/clock.h"
#include "core/status.h"
#include "sched/plan.h"
#include "sched/scheduler.h"
#include "sched/snapshot.h"

namespace muster::balance {

enum class BalancerMode { kOff, kDryRun, kOn };

// "off", "dry-run", "on".
const char* BalancerModeName(BalancerMode m);
// Parses "off", "dry-run" (or "dryrun"), "on"; the error lists the accepted names.
Result<BalancerMode> ParseBalancerMode(const std::string& text);

struct BalancerConfig {
  BalancerMode mode = BalancerMode::kDryRun;
  DurationMs period_ms = 30'000;
  double threshold = 0.25;                 // lambda above this counts toward the streak
  int consecutive_periods = 3;             // k
  DurationMs no_ping_pong_ms = 1'800'000;  // a job moves at most once per window
  double min_net_gain_s = 0;               // a move needs gain_s > cost_s + this
  int max_moves_per_period = 8;            // steal/retarget/heterogeneity moves (defrag: 1 plan)
  bool defragment = true;
  bool steal = true;
  bool heterogeneity = true;
  bool defrag_skips_threshold = true;  // false: defragmentation is gated by hysteresis too
  MoveCostEstimate default_move_cost;  // for jobs without a per-job estimate
  LoadOptions load;
  // Used to build a plan when BalanceContext::plan is null (steal/retarget and defragmentation
  // need each pending task's predicted start).
  sched::SchedulerConfig scheduler;
};

// OK if every field is in range.
Status ValidateBalancerConfig(const BalancerConfig& config);

// What one period brings besides the snapshot.
struct BalanceContext {
  TimeMs now_ms = 0;
  MeasuredUsage usage;
  std::map<JobId, MoveCostEstimate> move_costs;  // per-job checkpoint/restart estimates
  // The scheduler's latest plan for this snapshot, if the caller has one; else Decide computes
  // one with BalancerConfig::scheduler. Not owned; must outlive the call.
  const sched::Plan* plan = nullptr;
};

struct Decision {
  bool due = false;  // false: called before the period elapsed; nothing was evaluated
  BalanceEvaluation evaluation;
  int streak = 0;                // consecutive periods over the threshold, after this one
  bool rebalance_armed = false;  // streak reached k this period
  std::vector<Move> moves;
  std::vector<std::string> notes;  // why rules did not act, one line each
};

class Balancer {
 public:
  // Errors when the config is out of range.
  static Result<Balancer> Create(const BalancerConfig& config);

  // One period's decision; see the file comment. Errors on invalid usage or a failing plan.
  Result<Decision> Decide(const sched::ClusterSnapshot& snapshot, const BalanceContext& context);

  // Drops `job` from the move history (its move was not applied).
  void ForgetMove(JobId job) { last_move_ms_.erase(job); }
  // Records a move the caller applied by other means, so the window covers it.
  void RecordMove(JobId job, TimeMs at) { last_move_ms_[job] = at; }

  const BalancerConfig& config() const { return config_; }
  int streak() const { return streak_; }
  // Time of the job's last recorded move.
  std::optional<TimeMs> LastMove(JobId job) const;

 private:
  explicit Balancer(BalancerConfig config) : config_(std::move(config)) {}

  BalancerConfig config_;
  std::optional<TimeMs> last_period_ms_;
  int streak_ = 0;
  std::map<JobId, TimeMs> last_move_ms_;
};

}  // namespace muster::balance
