// The load balancer in the replay (model in engine.h): once per balancer period the engine hands
// balance::Balancer::Decide its snapshot and its own plan, then applies the moves marked apply.
//
// Plan: sched::Schedule over the same snapshot, registries and scheduler config as the passes,
// but with predicted rows (max_predicted_jobs at the scheduler's default), since the balancer
// reads each queued job's predicted start and the reservations it must not delay.
// Migrate: checked against the live cluster first (the job still runs, entirely on from_node, is
// checkpointable, and the target has room); then the job stops, keeps its remaining work, owes
// the configured checkpoint + restart time, and starts on the target at once (pinned there and
// requeued if that start fails). Steal / retarget: a queued job whose every rank the move lists
// starts on the target now when it has room, else is pinned there. A move that no longer fits is
// dropped and ForgetMove'd so that its ping-pong window does not block it later.
// Pure; single-threaded.
#include <algorithm>

#include "core/capacity.h"
#include "sim/replay.h"

namespace muster::sim::detail {

std::vector<int> Replay::PickGpus(int node, int count, const std::vector<int>& wanted) const {
  const sched::NodeView& v = snap_.nodes[node];
  ResourceRequest r;
  r.milli_cpus = 0;
  r.memory_mib = 0;
  r.gpus = count;
  NodeFree trial = v.free;
  return TryTakePreferring(v.spec, trial, r, wanted).gpus;
}

namespace {

// Flattens a move's per-task GPU lists (the simulator's ranks hold one GPU each).
std::vector<int> Flatten(const std::vector<std::vector<int>>& per_task) {
  std::vector<int> out;
  for (const auto& g : per_task) out.insert(out.end(), g.begin(), g.end());
  return out;
}

// One-GPU placements of ranks 0..g-1 of job j on `node`, GPU gpus[r] for rank r.
std::vector<sched::Placement> RankPlacements(int j, int node, const std::vector<int>& gpus) {
  std::vector<sched::Placement> ps(gpus.size());
  for (size_t r = 0; r < gpus.size(); ++r) {
    ps[r].task = {static_cast<JobId>(j), static_cast<int>(r)};
    ps[r].node = node;
    ps[r].gpus = {gpus[r]};
    ps[r].start_now = true;
  }
  return ps;
}

}  // namespace

bool Replay::ApplyMigrate(const balance::Move& m) {
  const int j = static_cast<int>(m.job);
  const int nodes = static_cast<int>(snap_.nodes.size());
  if (j < 0 || j >= n_ || run_[j].state != RunState::kRunning) return false;
  if (!w_.jobs[j].checkpointable) return false;  // never: the balancer refuses these too
  if (m.to_node < 0 || m.to_node >= nodes || m.to_node == m.from_node) return false;
  for (int p : run_pos_[j])
    if (snap_.running[p].node != m.from_node) return false;
  const int g = w_.jobs[j].gpus;
  std::vector<int> gpus = PickGpus(m.to_node, g, Flatten(m.to_gpus));
  if (gpus.empty()) return false;
  Stop(j, StopKind::kMigrated);  // keeps the remaining work, requeues
  JobRun& jr = run_[j];
  jr.pending_overhead_ms += CeilMs(o_.balancer.default_move_cost.total_s() * 1000.0);
  jr.pinned_node = m.to_node;
  ++out_[j].migrations;
  ++r_.migrations;
  // The target's GPUs were free before the stop and the stop frees only from_node's: this start
  // cannot be rejected; if it ever were, the job stays queued, pinned to the target.
  (void)ApplyAndStart(
      sched::Plan{.placements = RankPlacements(j, m.to_node, gpus), .unplaced = {}});
  return true;
}

bool Replay::ApplyStart(const balance::Move& m) {
  const int j = static_cast<int>(m.job);
  const int nodes = static_cast<int>(snap_.nodes.size());
  if (j < 0 || j >= n_ || run_[j].state != RunState::kQueued) return false;
  if (m.to_node < 0 || m.to_node >= nodes) return false;
  const int g = w_.jobs[j].gpus;
  // A job is a gang here: a move that lists only some ranks cannot be applied.
  if (static_cast<int>(m.tasks.size()) != g) return false;
  std::vector<int> gpus = PickGpus(m.to_node, g, Flatten(m.to_gpus));
  if (gpus.empty()) {
    run_[j].pinned_node = m.to_node;  // wait for room there
    ++r_.pinned_moves;
    return true;
  }
  if (!ApplyAndStart(sched::Plan{.placements = RankPlacements(j, m.to_node, gpus), .unplaced = {}})
           .empty())
    return false;
  ++r_.started_moves;
  return true;
}

Status Replay::Balance() {
  FillQueueView(/*whole=*/true);
  snap_.now_ms = now_;
  sched::SchedulerConfig plan_cfg = cfg_;
  plan_cfg.max_predicted_jobs = sched::SchedulerConfig{}.max_predicted_jobs;
  Result<sched::Plan> plan = sched::Schedule(snap_, plan_cfg, plugins_, policies_);
  if (!plan.ok()) return plan.status();
  balance::BalanceContext ctx;
  ctx.now_ms = now_;
  ctx.plan = &*plan;
  Result<balance::Decision> d = balancer_->Decide(snap_, ctx);
  if (!d.ok()) return d.status();
  if (!d->due) return Status::Ok();
  ++r_.balance_periods;
  bool applied = false;
  for (const balance::Move& m : d->moves) {
    if (!m.apply) {
      ++r_.proposed_moves;
      continue;
    }
    bool ok = m.kind == balance::MoveKind::kMigrate ? ApplyMigrate(m) : ApplyStart(m);
    if (!ok) {
      balancer_->ForgetMove(m.job);
      ++r_.dropped_moves;
    }
    applied = applied || ok;
  }
  // Migrations free their source GPUs: let the queue use them now.
  return applied ? RunPasses() : Status::Ok();
}

}  // namespace muster::sim::detail
