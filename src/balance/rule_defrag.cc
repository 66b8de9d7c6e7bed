// Defragmentation. A pending job is blocked by fragmentation when it needs D >= 2 GPUs on one
// node (one task asking for several GPUs, or a gang whose ranks must share one node), no allowed
// ready node has room for it now, yet the ready nodes have at least D matching GPUs free in total.
// For each allowed node N: move checkpointable single-node jobs off N, largest GPU holders first
// (fewest moves), each to the ready node with the fewest free matching GPUs that still holds it
// (best fit, so the move does not fragment another node), until the job fits on N. The node with
// the fewest moves wins, then the lowest total cost, then the lowest index.
// gain = the job's predicted wait (plan's predicted start - now, or the earliest time some node
// drains enough by predicted finishes); cost = sum of the moved jobs' checkpoint + restart (+ any
// slowdown on a slower destination). The plan goes ahead only if gain > cost + min_net_gain_s.
// At most one plan per period, and at most kMaxBlockedJobsPerPeriod blocked jobs examined.
#include <algorithm>
#include <limits>
#include <optional>

#include "balance/rules.h"
#include "core/capacity.h"

namespace muster::balance {

namespace {

// Blocked jobs examined per period (each costs a trial per candidate node).
constexpr int kMaxBlockedJobsPerPeriod = 16;

struct Demand {
  std::vector<int> tasks;
  std::vector<ResourceRequest> requests;
  int gpus = 0;
};

// The job's single-node demand, or nullopt when fragmentation cannot be what blocks it.
std::optional<Demand> SingleNodeDemand(const sched::PendingJob& j) {
  if (!j.spec || j.pending_tasks.empty()) return std::nullopt;
  const JobSpec& spec = *j.spec;
  Demand d;
  if (spec.gang) {
    const int n = static_cast<int>(j.pending_tasks.size());
    if (n > 1 && spec.ranks_per_node != n) return std::nullopt;  // ranks may spread
    d.tasks = j.pending_tasks;
  } else {
    d.tasks = {j.pending_tasks.front()};
  }
  d.requests.assign(d.tasks.size(), spec.resources);
  d.gpus = spec.resources.gpus * static_cast<int>(d.tasks.size());
  if (d.gpus < 2) return std::nullopt;
  return d;
}

bool IdleNodeCouldHold(const sched::NodeView& v, const Demand& d) {
  return IdleTasksThatFit(v.spec, d.requests.front()) >= static_cast<int>(d.requests.size());
}

// Earliest predicted time at which `node` alone has room for the demand, crediting running tasks
// in order of predicted finish; nullopt if never.
std::optional<TimeMs> EarliestFit(const RuleInput& in, int node, const Demand& d) {
  const auto& s = in.snapshot;
  Room room(s);
  if (room.Fits(node, d.requests)) return in.now;
  std::vector<int> on;
  for (int i = 0; i < static_cast<int>(s.running.size()); ++i)
    if (s.running[i].node == node) on.push_back(i);
  std::sort(on.begin(), on.end(), [&](int a, int b) {
    return s.running[a].predicted_finish_ms < s.running[b].predicted_finish_ms;
  });
  for (int i : on) {
    room.Give(node, s.running[i].resources, s.running[i].gpus);
    if (room.Fits(node, d.requests)) return std::max(in.now, s.running[i].predicted_finish_ms);
  }
  return std::nullopt;
}

struct FreePlan {
  int node = -1;
  std::vector<Move> moves;
  double cost_s = 0;
  std::optional<Room> room;
};

FreePlan TryFree(const RuleInput& in, const RuleState& st, int node, const Demand& d,
                 JobId blocked) {
  FreePlan p;
  p.node = node;
  Room trial = st.room;
  std::vector<const RunningUnit*> movable;
  for (const auto& u : in.units)
    if (u.node == node && u.checkpointable && u.gpus > 0 && st.Movable(in, u.job))
      movable.push_back(&u);
  std::sort(movable.begin(), movable.end(), [&](const RunningUnit* a, const RunningUnit* b) {
    if (a->gpus != b->gpus) return a->gpus > b->gpus;
    const double ca = in.CostOf(a->job).total_s(), cb = in.CostOf(b->job).total_s();
    if (ca != cb) return ca < cb;
    return a->job < b->job;
  });
  for (const RunningUnit* u : movable) {
    if (trial.Fits(node, d.requests)) break;
    const Room before = trial;
    for (int i : u->running)
      trial.Give(node, in.snapshot.running[i].resources, in.snapshot.running[i].gpus);
    const auto reqs = u->Requests(in.snapshot);
    const double work = in.RemainingWork(*u);
    const double cost = in.CostOf(u->job).total_s();
    int dest = -1, dest_free = std::numeric_limits<int>::max();
    for (int n = 0; n < trial.size(); ++n) {
      if (n == node || !trial.Fits(n, reqs)) continue;
      const double finish =
          static_cast<double>(in.now) + (cost + work / in.EffectiveSpeed(n)) * 1000;
      if (in.ReservedBefore(n, blocked, finish)) continue;
      const int f = trial.FreeMatching(n, reqs.front());
      if (f < dest_free) dest = n, dest_free = f;
    }
    if (dest < 0) {
      trial = before;
      continue;
    }
    auto gpus = trial.Take(dest, reqs);
    const double slowdown =
        std::max(0.0, work / in.EffectiveSpeed(dest) - work / in.EffectiveSpeed(node));
    Move m;
    m.job = u->job;
    m.tasks = u->TaskIndices(in.snapshot);
    m.from_node = node;
    m.to_node = dest;
    m.to_gpus = *gpus;
    m.kind = MoveKind::kMigrate;
    m.cost_s = cost + slowdown;
    p.cost_s += m.cost_s;
    p.moves.push_back(std::move(m));
  }
  if (trial.Fits(node, d.requests)) p.room = std::move(trial);
  return p;
}

bool Better(const FreePlan& a, const FreePlan& b) {
  if (a.moves.size() != b.moves.size()) return a.moves.size() < b.moves.size();
  if (a.cost_s != b.cost_s) return a.cost_s < b.cost_s;
  return a.node < b.node;
}

}  // namespace

void Defragment(const RuleInput& in, RuleState& st) {
  const auto& s = in.snapshot;
  std::set<JobId> starting;
  std::map<JobId, TimeMs> planned_start;
  for (const auto& p : in.plan.placements) {
    if (p.start_now) starting.insert(p.task.job);
    auto [it, fresh] = planned_start.try_emplace(p.task.job, p.predicted_start_ms);
    if (!fresh) it->second = std::max(it->second, p.predicted_start_ms);
  }
  // GPUs that moving checkpointable jobs could free, per node: a cheap bound before TryFree.
  std::vector<int> freeable(s.nodes.size(), 0);
  for (const auto& u : in.units)
    if (u.node >= 0 && u.checkpointable && st.Movable(in, u.job)) freeable[u.node] += u.gpus;
  int examined = 0;
  for (const auto& j : s.queue) {
    if (starting.count(j.id) || st.moved.count(j.id)) continue;
    auto d = SingleNodeDemand(j);
    if (!d) continue;
    std::vector<int> allowed;
    int free_total = 0;
    bool fits_now = false;
    for (int n = 0; n < static_cast<int>(s.nodes.size()); ++n) {
      if (!st.room.ready(n)) continue;
      free_total += st.room.FreeMatching(n, d->requests.front());
      if (j.pinned_node >= 0 && n != j.pinned_node) continue;
      if (!IdleNodeCouldHold(s.nodes[n], *d)) continue;
      allowed.push_back(n);
      fits_now = fits_now || st.room.Fits(n, d->requests);
    }
    if (fits_now || allowed.empty() || free_total < d->gpus) continue;
    if (++examined > kMaxBlockedJobsPerPeriod) {
      st.notes.push_back("defragment: examined " + std::to_string(kMaxBlockedJobsPerPeriod) +
                         " blocked jobs; the rest wait for the next period");
      return;
    }

    std::optional<TimeMs> start;
    if (auto it = planned_start.find(j.id); it != planned_start.end()) {
      start = it->second;
    } else {
      for (int n : allowed) {
        auto t = EarliestFit(in, n, *d);
        if (t && (!start || *t < *start)) start = t;
      }
    }
    const std::string who = "job " + std::to_string(j.id);
    if (!start) {
      st.notes.push_back("defragment: " + who + " has no predicted start; skipped");
      continue;
    }
    const double gain_s = static_cast<double>(*start - in.now) / 1000.0;

    std::optional<FreePlan> best;
    for (int n : allowed) {
      const double finish = static_cast<double>(in.now) +
                            static_cast<double>(j.predicted_duration_ms) / in.EffectiveSpeed(n);
      if (in.ReservedBefore(n, j.id, finish)) continue;
      if (st.room.FreeMatching(n, d->requests.front()) + freeable[n] < d->gpus) continue;
      FreePlan p = TryFree(in, st, n, *d, j.id);
      if (p.room && (!best || Better(p, *best))) best = std::move(p);
    }
    if (!best) {
      st.notes.push_back("defragment: " + who + " needs " + std::to_string(d->gpus) +
                         " GPUs on one node; no node can be freed by moving checkpointable jobs");
      continue;
    }
    if (!(gain_s > best->cost_s + in.config.min_net_gain_s)) {
      st.notes.push_back("defragment: freeing node " + s.nodes[best->node].spec.name + " for " +
                         who + " costs " + Fmt(best->cost_s) + "s, saves only " + Fmt(gain_s) +
                         "s");
      continue;
    }
    const std::string why = "defragment " + s.nodes[best->node].spec.name + " for " + who +
                            " (needs " + std::to_string(d->gpus) + " GPUs on one node; " +
                            std::to_string(best->moves.size()) + " move(s), plan cost " +
                            Fmt(best->cost_s) + "s)";
    for (Move& m : best->moves) {
      m.gain_s = gain_s;
      m.cost_s = best->cost_s;
      m.reason = why;
      st.moved.insert(m.job);
      st.moves.push_back(std::move(m));
    }
    Move pin;
    pin.job = j.id;
    pin.tasks = d->tasks;
    pin.from_node = -1;
    pin.to_node = best->node;
    pin.to_gpus = *best->room->Take(best->node, d->requests);
    pin.kind = MoveKind::kRetarget;
    pin.gain_s = gain_s;
    pin.cost_s = 0;
    pin.reason = "start on " + s.nodes[best->node].spec.name + ", freed by defragmentation";
    st.moved.insert(j.id);
    st.moves.push_back(std::move(pin));
    st.room = std::move(*best->room);
    return;  // one defragmentation per period
  }
}

}  // namespace muster::balance
