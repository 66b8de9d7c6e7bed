#include "balance/balancer.h"

#include <cmath>

#include "balance/rules.h"

namespace muster::balance {

const char* BalancerModeName(BalancerMode m) {
  switch (m) {
    case BalancerMode::kOff:
      return "off";
    case BalancerMode::kDryRun:
      return "dry-run";
    case BalancerMode::kOn:
      return "on";
  }
  return "unknown";
}

Result<BalancerMode> ParseBalancerMode(const std::string& text) {
  if (text == "off") return BalancerMode::kOff;
  if (text == "dry-run" || text == "dryrun") return BalancerMode::kDryRun;
  if (text == "on") return BalancerMode::kOn;
  return Status::InvalidArgument("unknown balancer mode '" + text + "' (off, dry-run, on)");
}

Status ValidateBalancerConfig(const BalancerConfig& c) {
  if (c.period_ms <= 0) return Status::InvalidArgument("balancer period must be > 0 ms");
  if (!(std::isfinite(c.threshold) && c.threshold >= 0))
    return Status::InvalidArgument("balancer threshold must be >= 0");
  if (c.consecutive_periods < 1)
    return Status::InvalidArgument("balancer consecutive periods must be >= 1");
  if (c.no_ping_pong_ms < 0) return Status::InvalidArgument("no-ping-pong window must be >= 0");
  if (!(std::isfinite(c.min_net_gain_s) && c.min_net_gain_s >= 0))
    return Status::InvalidArgument("min_net_gain_s must be >= 0");
  if (c.max_moves_per_period < 0)
    return Status::InvalidArgument("max_moves_per_period must be >= 0");
  const auto& m = c.default_move_cost;
  for (double v : {m.checkpoint_s, m.restart_s, m.lost_work_s})
    if (!(std::isfinite(v) && v >= 0))
      return Status::InvalidArgument("default move cost terms must be finite and >= 0");
  if (c.load.horizon_ms <= 0) return Status::InvalidArgument("load horizon must be > 0 ms");
  if (!(c.load.measured_weight >= 0 && c.load.measured_weight <= 1))
    return Status::InvalidArgument("measured_weight must be in [0, 1]");
  return Status::Ok();
}

Result<Balancer> Balancer::Create(const BalancerConfig& config) {
  if (Status st = ValidateBalancerConfig(config); !st.ok()) return st;
  return Balancer(config);
}

std::optional<TimeMs> Balancer::LastMove(JobId job) const {
  auto it = last_move_ms_.find(job);
  if (it == last_move_ms_.end()) return std::nullopt;
  return it->second;
}

Result<Decision> Balancer::Decide(const sched::ClusterSnapshot& snapshot,
                                  const BalanceContext& ctx) {
  Decision d;
  if (config_.mode == BalancerMode::kOff) {
    d.notes.push_back("balancer is off");
    return d;
  }
  const TimeMs now = ctx.now_ms;
  if (last_period_ms_ && now < *last_period_ms_ + config_.period_ms) {
    d.streak = streak_;
    d.notes.push_back("not due: next period at " +
                      std::to_string(*last_period_ms_ + config_.period_ms) + " ms");
    return d;
  }
  for (const auto& [job, c] : ctx.move_costs)
    for (double v : {c.checkpoint_s, c.restart_s, c.lost_work_s})
      if (!(std::isfinite(v) && v >= 0))
        return Status::InvalidArgument("move cost of job " + std::to_string(job) +
                                       " must be finite and >= 0");
  auto ev = EvaluateAt(snapshot, ctx.usage, config_.load, now);
  if (!ev.ok()) return ev.status();

  sched::Plan own_plan;
  const sched::Plan* plan = ctx.plan;
  if (plan == nullptr) {
    auto p = sched::Schedule(snapshot, config_.scheduler);
    if (!p.ok()) return Status(p.status().code(), "balancer plan: " + p.status().message());
    own_plan = std::move(*p);
    plan = &own_plan;
  }

  last_period_ms_ = now;
  std::erase_if(last_move_ms_,
                [&](const auto& e) { return now - e.second >= config_.no_ping_pong_ms; });
  d.due = true;
  d.evaluation = std::move(*ev);
  const double lambda = d.evaluation.nodes.imbalance_factor;
  streak_ = lambda > config_.threshold ? streak_ + 1 : 0;
  d.rebalance_armed = streak_ >= config_.consecutive_periods;

  RuleInput in{snapshot, config_, ctx, *plan, now, RunningUnits(snapshot, now), last_move_ms_, {}};
  RuleState st{Room(snapshot), {}, {}, 0, {}};
  // Moves use only what the plan leaves: its starts are debited, its later rows are guarded.
  in.reserved.resize(snapshot.nodes.size());
  for (const auto& p : plan->placements) {
    if (p.node < 0 || p.node >= static_cast<int>(snapshot.nodes.size())) continue;
    if (p.start_now) {
      st.room.Hold(p.node, p.milli_cpus, p.memory_mib, p.gpus);
    } else if (p.predicted_start_ms > now) {
      in.reserved[p.node].push_back(&p);
    }
  }
  if (config_.defragment && (config_.defrag_skips_threshold || d.rebalance_armed))
    Defragment(in, st);
  if (d.rebalance_armed) {
    if (config_.steal) StealAndRetarget(in, st);
    if (config_.heterogeneity) MigrateToFaster(in, st);
  } else {
    st.notes.push_back("rebalancing not armed: lambda " + Fmt(lambda * 100) + "% vs threshold " +
                       Fmt(config_.threshold * 100) + "%, " + std::to_string(streak_) + " of " +
                       std::to_string(config_.consecutive_periods) + " periods over");
  }

  const bool apply = config_.mode == BalancerMode::kOn;
  for (Move& m : st.moves) {
    m.apply = apply;
    if (apply) last_move_ms_[m.job] = now;
  }
  if (apply && st.rebalancing_moves > 0) streak_ = 0;
  d.streak = streak_;
  d.moves = std::move(st.moves);
  d.notes = std::move(st.notes);
  return d;
}

}  // namespace muster::balance
