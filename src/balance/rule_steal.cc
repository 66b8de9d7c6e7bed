// Work stealing and re-targeting of queued work. The plan gives every waiting task a predicted
// node, start and finish (rows with start_now = false). A task (an array task: steal; any other
// job, a gang with all its pending ranks: retarget) whose row starts later than now may start now
// on another ready node with room instead, finishing at now + duration / effective speed there.
// gain = planned finish - that finish (the latest over a gang's ranks); cost = 0 (nothing has run,
// so nothing is checkpointed). A node is not used when another job's row reserves it from before
// the stolen task would finish (so a backfill reservation is never delayed). For each task the
// node with the largest gain wins; tasks are taken latest planned finish first. Moves are grouped
// per (job, from, to); a grouped move's gain_s is the sum over its tasks (task-seconds). The
// no-ping-pong window applies to retargets, not to steals (a stolen task is running, not queued).
#include <algorithm>
#include <tuple>

#include "balance/rules.h"

namespace muster::balance {

namespace {

struct Candidate {
  int node = -1;
  double gain_s = 0;
};

// Best ready node other than `from` for `requests` now: most gain, no reservation conflict.
Candidate BestTarget(const RuleInput& in, const RuleState& st, JobId job, int from,
                     const std::vector<ResourceRequest>& requests, double duration_ms,
                     TimeMs planned_finish) {
  Candidate best;
  for (int n = 0; n < st.room.size(); ++n) {
    if (n == from || !st.room.Fits(n, requests)) continue;
    const double finish = static_cast<double>(in.now) + duration_ms / in.EffectiveSpeed(n);
    if (in.ReservedBefore(n, job, finish)) continue;
    const double gain = (static_cast<double>(planned_finish) - finish) / 1000.0;
    if (best.node < 0 || gain > best.gain_s) best = {n, gain};
  }
  return best;
}

}  // namespace

void StealAndRetarget(const RuleInput& in, RuleState& st) {
  const auto& s = in.snapshot;
  std::map<JobId, std::vector<const sched::Placement*>> waiting;
  for (const auto& p : in.plan.placements) {
    if (p.start_now || p.predicted_start_ms <= in.now) continue;
    waiting[p.task.job].push_back(&p);
  }
  const double min_net = in.config.min_net_gain_s;
  for (const auto& j : s.queue) {
    if (st.rebalancing_moves >= in.config.max_moves_per_period) {
      st.notes.push_back("steal: move limit reached");
      return;
    }
    auto it = waiting.find(j.id);
    if (it == waiting.end() || !j.spec || j.predicted_duration_ms <= 0) continue;
    const JobSpec& spec = *j.spec;
    // Stolen tasks start at once and leave the queue, so they cannot bounce: further tasks of an
    // array job may be stolen within its window (only one steal decision per period, though).
    if (st.moved.count(j.id) || (spec.array.empty() && !in.OutsideWindow(j.id))) continue;
    auto rows = it->second;
    const double dur = static_cast<double>(j.predicted_duration_ms);
    const MoveKind kind = spec.array.empty() ? MoveKind::kRetarget : MoveKind::kSteal;

    if (spec.gang) {
      if (rows.size() != j.pending_tasks.size()) continue;  // all ranks or none
      TimeMs planned = 0;
      std::vector<int> tasks;
      int from = rows.front()->node;
      for (const auto* p : rows) {
        planned = std::max(planned, p->predicted_finish_ms);
        tasks.push_back(p->task.index);
        if (p->node != from) from = -1;
      }
      std::vector<ResourceRequest> reqs(rows.size(), spec.resources);
      Candidate c = BestTarget(in, st, j.id, from, reqs, dur, planned);
      if (c.node < 0 || !(c.gain_s > min_net)) continue;
      Move m;
      m.job = j.id;
      m.tasks = tasks;
      m.from_node = from;
      m.to_node = c.node;
      m.to_gpus = *st.room.Take(c.node, reqs);
      m.kind = kind;
      m.gain_s = c.gain_s;
      m.reason = "gang starts now on " + s.nodes[c.node].spec.name + " instead of at +" +
                 Fmt(static_cast<double>(rows.front()->predicted_start_ms - in.now) / 1000.0) + "s";
      st.moved.insert(j.id);
      st.moves.push_back(std::move(m));
      ++st.rebalancing_moves;
      continue;
    }

    std::sort(rows.begin(), rows.end(), [](const sched::Placement* a, const sched::Placement* b) {
      return std::tie(b->predicted_finish_ms, a->task.index) <
             std::tie(a->predicted_finish_ms, b->task.index);
    });
    std::map<std::pair<int, int>, Move> grouped;  // (from, to) -> move
    const std::vector<ResourceRequest> one{spec.resources};
    for (const auto* p : rows) {
      Candidate c = BestTarget(in, st, j.id, p->node, one, dur, p->predicted_finish_ms);
      if (c.node < 0 || !(c.gain_s > min_net)) continue;
      const std::pair<int, int> key{p->node, c.node};
      if (!grouped.count(key) &&
          st.rebalancing_moves + static_cast<int>(grouped.size()) >= in.config.max_moves_per_period)
        continue;
      Move& m = grouped[key];
      if (m.tasks.empty()) {
        m.job = j.id;
        m.from_node = p->node;
        m.to_node = c.node;
        m.kind = kind;
      }
      m.tasks.push_back(p->task.index);
      m.to_gpus.push_back(st.room.Take(c.node, one)->front());
      m.gain_s += c.gain_s;
    }
    for (auto& [key, m] : grouped) {
      m.reason = std::to_string(m.tasks.size()) + " queued task(s) start now on " +
                 s.nodes[m.to_node].spec.name + " instead of waiting for " +
                 (m.from_node >= 0 ? s.nodes[m.from_node].spec.name : std::string("a node"));
      st.moves.push_back(std::move(m));
      ++st.rebalancing_moves;
    }
    if (!grouped.empty()) st.moved.insert(j.id);
  }
}

}  // namespace muster::balance
