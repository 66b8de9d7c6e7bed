// Heterogeneity. A checkpointable job whose running tasks all sit on node S carries W reference
// seconds of remaining work (predicted remaining time x S's spec speed). On S it needs W / v_S
// more seconds, on another ready node F with room W / v_F, where v = spec speed x measured speed
// factor (so a degraded S, or a faster or newly joined F, shows up). gain = W/v_S - W/v_F,
// cost = checkpoint + restart + lost work. Candidates with gain > cost + min_net_gain_s are taken
// by largest net gain (then job id, then node index), each job once, while room lasts.
#include <algorithm>
#include <tuple>

#include "balance/rules.h"

namespace muster::balance {

void MigrateToFaster(const RuleInput& in, RuleState& st) {
  const auto& s = in.snapshot;
  struct Candidate {
    double net = 0;
    double gain = 0;
    double cost = 0;
    const RunningUnit* unit = nullptr;
    int to = -1;
  };
  std::vector<Candidate> cands;
  for (const auto& u : in.units) {
    if (u.node < 0 || u.remaining_ms <= 0 || !st.Movable(in, u.job)) continue;
    if (!u.checkpointable) continue;  // never migrate what cannot resume
    const double work = in.RemainingWork(u);
    const double here = work / in.EffectiveSpeed(u.node);
    const double cost = in.CostOf(u.job).total_s();
    const auto reqs = u.Requests(s);
    for (int f = 0; f < st.room.size(); ++f) {
      if (f == u.node || in.EffectiveSpeed(f) <= in.EffectiveSpeed(u.node)) continue;
      if (!st.room.Fits(f, reqs)) continue;
      const double there = work / in.EffectiveSpeed(f);
      if (in.ReservedBefore(f, u.job, static_cast<double>(in.now) + (cost + there) * 1000))
        continue;
      const double gain = here - there;
      if (gain > cost + in.config.min_net_gain_s) cands.push_back({gain - cost, gain, cost, &u, f});
    }
  }
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(b.net, a.unit->job, a.to) < std::tie(a.net, b.unit->job, b.to);
  });
  for (const Candidate& c : cands) {
    if (st.rebalancing_moves >= in.config.max_moves_per_period) {
      st.notes.push_back("heterogeneity: move limit reached");
      return;
    }
    if (st.moved.count(c.unit->job)) continue;
    auto gpus = st.room.Take(c.to, c.unit->Requests(s));
    if (!gpus) continue;
    for (int i : c.unit->running)
      st.room.Give(c.unit->node, s.running[i].resources, s.running[i].gpus);
    Move m;
    m.job = c.unit->job;
    m.tasks = c.unit->TaskIndices(s);
    m.from_node = c.unit->node;
    m.to_node = c.to;
    m.to_gpus = std::move(*gpus);
    m.kind = MoveKind::kMigrate;
    m.gain_s = c.gain;
    m.cost_s = c.cost;
    m.reason = "finishes " + Fmt(c.gain) + "s sooner on " + s.nodes[c.to].spec.name + " (speed " +
               Fmt(in.EffectiveSpeed(c.to)) + " vs " + Fmt(in.EffectiveSpeed(c.unit->node)) +
               " on " + s.nodes[c.unit->node].spec.name + ")";
    st.moved.insert(m.job);
    st.moves.push_back(std::move(m));
    ++st.rebalancing_moves;
  }
}

}  // namespace muster::balance
