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

std::string Fmt(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace muster::balance
