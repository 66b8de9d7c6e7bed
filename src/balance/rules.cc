#include "balance/rules.h"

#include <cstdio>

namespace muster::balance {

double RuleInput::EffectiveSpeed(int node) const {
  const double s = snapshot.nodes[node].spec.speed;
  return (s > 0 ? s : 1.0) * context.usage.For(node).speed_factor;
}

double RuleInput::RemainingWork(const RunningUnit& u) const {
  const double s = u.node >= 0 ? snapshot.nodes[u.node].spec.speed : 1.0;
  return u.remaining_ms / 1000.0 * (s > 0 ? s : 1.0);
}

const MoveCostEstimate& RuleInput::CostOf(JobId job) const {
  auto it = context.move_costs.find(job);
  return it == context.move_costs.end() ? config.default_move_cost : it->second;
}

bool RuleInput::OutsideWindow(JobId job) const {
  auto it = last_move_ms.find(job);
  return it == last_move_ms.end() || now - it->second >= config.no_ping_pong_ms;
}

bool RuleInput::ReservedBefore(int node, JobId except, double finish_ms) const {
  if (node < 0 || node >= static_cast<int>(reserved.size())) return false;
  for (const sched::Placement* p : reserved[node])
    if (p->task.job != except && static_cast<double>(p->predicted_start_ms) < finish_ms)
      return true;
  return false;
}

std::string Fmt(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace muster::balance
