// First, simple online scheduler: FIFO-style ordering, resource-fit filter, bin-pack selection,
// all-or-nothing gangs, array throttles, pinned nodes. Tasks that start get predicted
// start = now and finish = now + predicted_duration / node speed. Jobs that cannot start report
// kUnschedulable (not now) or kInfeasible (no node of the cluster could ever hold one task).
#include "sched/scheduler.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace muster::sched {

namespace {

struct WorkNode {
  MilliCpu cpu = 0;
  MiB mem = 0;
  std::vector<bool> gpu_free;
  bool ready = false;
};

int MatchingFree(const NodeSpec& spec, const WorkNode& w, const ResourceRequest& r) {
  int n = 0;
  for (size_t i = 0; i < w.gpu_free.size(); ++i)
    if (w.gpu_free[i] && GpuMatches(spec.gpus[i], r)) ++n;
  return n;
}

// How many tasks of request r fit on the node now.
int TasksThatFit(const NodeSpec& spec, const WorkNode& w, const ResourceRequest& r) {
  if (!w.ready) return 0;
  int64_t n = std::numeric_limits<int>::max();
  if (r.milli_cpus > 0) n = std::min<int64_t>(n, w.cpu / r.milli_cpus);
  if (r.memory_mib > 0) n = std::min<int64_t>(n, w.mem / r.memory_mib);
  if (r.gpus > 0) n = std::min<int64_t>(n, MatchingFree(spec, w, r) / r.gpus);
  return static_cast<int>(std::max<int64_t>(n, 0));
}

std::vector<int> TakeGpus(const NodeSpec& spec, WorkNode& w, const ResourceRequest& r) {
  std::vector<int> got;
  for (size_t i = 0; i < w.gpu_free.size() && static_cast<int>(got.size()) < r.gpus; ++i) {
    if (w.gpu_free[i] && GpuMatches(spec.gpus[i], r)) {
      w.gpu_free[i] = false;
      got.push_back(static_cast<int>(i));
    }
  }
  w.cpu -= r.milli_cpus;
  w.mem -= r.memory_mib;
  return got;
}

// Bin-pack: fewest free GPUs left, then least free CPU, then lowest index.
bool BetterBinpack(const WorkNode& a, int ia, const WorkNode& b, int ib) {
  int fa = static_cast<int>(std::count(a.gpu_free.begin(), a.gpu_free.end(), true));
  int fb = static_cast<int>(std::count(b.gpu_free.begin(), b.gpu_free.end(), true));
  if (fa != fb) return fa < fb;
  if (a.cpu != b.cpu) return a.cpu < b.cpu;
  return ia < ib;
}

std::string InfeasibleMessage(const ClusterSnapshot& s, const ResourceRequest& r) {
  const NodeSpec* big = nullptr;
  for (const auto& n : s.nodes) {
    if (!big || std::tuple(n.spec.gpus.size(), n.spec.milli_cpus, n.spec.memory_mib) >
                    std::tuple(big->gpus.size(), big->milli_cpus, big->memory_mib))
      big = &n.spec;
  }
  if (!big) return "cluster has no nodes";
  std::string need;
  if (r.gpus > static_cast<int>(big->gpus.size()))
    need = std::to_string(r.gpus) + " gpus per task";
  else if (r.milli_cpus > big->milli_cpus)
    need = FormatMilliCpus(r.milli_cpus) + " cpu per task";
  else if (r.memory_mib > big->memory_mib)
    need = std::to_string(r.memory_mib) + "MiB memory per task";
  else
    need = r.ToString() + " per task";
  return "needs " + need + "; largest node " + big->name + " has " +
         FormatMilliCpus(big->milli_cpus) + " cpu, " + std::to_string(big->memory_mib) + "MiB, " +
         std::to_string(big->gpus.size()) + " gpus";
}

}  // namespace

std::vector<const Placement*> Plan::StartNow() const {
  std::vector<const Placement*> out;
  for (const auto& p : placements)
    if (p.start_now) out.push_back(&p);
  return out;
}

std::vector<std::string> QueuePolicyNames() { return {"fifo", "priority", "sjf", "fairshare"}; }
std::vector<std::string> ScorerNames() { return {"binpack", "spread", "mct", "fewest-nodes"}; }

Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config) {
  auto names = QueuePolicyNames();
  if (std::find(names.begin(), names.end(), config.queue_policy) == names.end())
    return Status::InvalidArgument("unknown queue policy '" + config.queue_policy + "'");
  std::vector<WorkNode> work;
  for (const auto& n : snapshot.nodes) {
    work.push_back({n.free.milli_cpus, n.free.memory_mib, n.free.gpu_free,
                    n.state == NodeState::kReady});
    work.back().gpu_free.resize(n.spec.gpus.size(), false);
  }

  std::vector<int> order(snapshot.queue.size());
  std::iota(order.begin(), order.end(), 0);
  const auto& q = snapshot.queue;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const PendingJob& x = q[a];
    const PendingJob& y = q[b];
    if (config.queue_policy == "priority" && x.spec->priority != y.spec->priority)
      return x.spec->priority > y.spec->priority;
    if (config.queue_policy == "sjf" && x.predicted_duration_ms != y.predicted_duration_ms)
      return x.predicted_duration_ms < y.predicted_duration_ms;
    if (config.queue_policy == "fairshare" && x.user_dominant_share != y.user_dominant_share)
      return x.user_dominant_share < y.user_dominant_share;
    return std::tie(x.submitted_ms, x.id) < std::tie(y.submitted_ms, y.id);
  });

  Plan plan;
  int starts = 0;
  for (int qi : order) {
    const PendingJob& job = q[qi];
    const JobSpec& spec = *job.spec;
    const ResourceRequest& r = spec.resources;
    if (job.pending_tasks.empty()) continue;
    auto node_allowed = [&](int i) { return job.pinned_node < 0 || job.pinned_node == i; };
    // Never: no allowed node could hold one task (or the gang's ranks) even when idle.
    int ever = 0;
    for (size_t i = 0; i < snapshot.nodes.size(); ++i) {
      if (!node_allowed(static_cast<int>(i))) continue;
      const NodeSpec& ns = snapshot.nodes[i].spec;
      if (!ns.CouldEverFit(r)) continue;
      WorkNode idle{ns.milli_cpus, ns.memory_mib, std::vector<bool>(ns.gpus.size(), true), true};
      int k = TasksThatFit(ns, idle, r);
      if (spec.gang && spec.ranks_per_node > 0) k = k >= spec.ranks_per_node ? spec.ranks_per_node : 0;
      ever += k;
    }
    int need_ever = spec.gang ? static_cast<int>(job.pending_tasks.size()) : 1;
    if (ever < need_ever) {
      std::string msg = job.pinned_node >= 0
                            ? "pinned node cannot hold the job"
                            : (spec.gang && ever > 0
                                   ? "gang of " + std::to_string(need_ever) +
                                         " ranks exceeds the cluster (" + std::to_string(ever) +
                                         " ranks fit on idle nodes)"
                                   : InfeasibleMessage(snapshot, r));
      plan.unplaced.push_back({job.id, Status::Infeasible(msg)});
      continue;
    }
    int allowed = static_cast<int>(job.pending_tasks.size());
    if (spec.array.throttle > 0)
      allowed = std::min(allowed, std::max(0, spec.array.throttle - job.running_tasks));
    allowed = std::min(allowed, config.max_starts_per_pass - starts);
    DurationMs dur = job.predicted_duration_ms;
    auto finish_on = [&](int node) {
      double sp = snapshot.nodes[node].spec.speed > 0 ? snapshot.nodes[node].spec.speed : 1.0;
      return snapshot.now_ms + static_cast<DurationMs>(static_cast<double>(dur) / sp);
    };
    if (spec.gang) {
      int n = static_cast<int>(job.pending_tasks.size());
      if (allowed < n) {
        plan.unplaced.push_back({job.id, Status::Unschedulable("start limit reached this pass")});
        continue;
      }
      // Nodes with the most room first (fewest nodes), then index.
      std::vector<std::pair<int, int>> cap;
      for (size_t i = 0; i < work.size(); ++i) {
        if (!node_allowed(static_cast<int>(i))) continue;
        int k = TasksThatFit(snapshot.nodes[i].spec, work[i], r);
        if (spec.ranks_per_node > 0) k = k >= spec.ranks_per_node ? spec.ranks_per_node : 0;
        if (k > 0) cap.push_back({-k, static_cast<int>(i)});
      }
      std::sort(cap.begin(), cap.end());
      int left = n;
      std::vector<std::pair<int, int>> use;  // node, ranks
      for (auto [negk, i] : cap) {
        if (left == 0) break;
        int k = std::min(-negk, left);
        use.push_back({i, k});
        left -= k;
      }
      if (left > 0) {
        plan.unplaced.push_back(
            {job.id, Status::Unschedulable("gang of " + std::to_string(n) +
                                           " ranks does not fit on free capacity now")});
        continue;
      }
      int rank = 0;
      for (size_t g = 0; g < use.size(); ++g) {
        auto [i, k] = use[g];
        for (int l = 0; l < k; ++l, ++rank) {
          Placement p;
          p.task = {job.id, job.pending_tasks[rank]};
          p.node = i;
          p.node_name = snapshot.nodes[i].spec.name;
          p.gpus = TakeGpus(snapshot.nodes[i].spec, work[i], r);
          p.milli_cpus = r.milli_cpus;
          p.memory_mib = r.memory_mib;
          p.predicted_start_ms = snapshot.now_ms;
          p.predicted_finish_ms = finish_on(i);
          p.start_now = true;
          p.gang_rank = job.pending_tasks[rank];
          p.local_rank = l;
          p.local_world = k;
          p.group_rank = static_cast<int>(g);
          plan.placements.push_back(std::move(p));
        }
      }
      starts += n;
      continue;
    }
    int placed = 0;
    for (int t = 0; t < allowed; ++t) {
      int best = -1;
      for (size_t i = 0; i < work.size(); ++i) {
        if (!node_allowed(static_cast<int>(i))) continue;
        if (TasksThatFit(snapshot.nodes[i].spec, work[i], r) < 1) continue;
        if (best < 0 || BetterBinpack(work[i], static_cast<int>(i), work[best], best))
          best = static_cast<int>(i);
      }
      if (best < 0) break;
      Placement p;
      p.task = {job.id, job.pending_tasks[t]};
      p.node = best;
      p.node_name = snapshot.nodes[best].spec.name;
      p.gpus = TakeGpus(snapshot.nodes[best].spec, work[best], r);
      p.milli_cpus = r.milli_cpus;
      p.memory_mib = r.memory_mib;
      p.predicted_start_ms = snapshot.now_ms;
      p.predicted_finish_ms = finish_on(best);
      p.start_now = true;
      plan.placements.push_back(std::move(p));
      ++placed;
    }
    starts += placed;
    if (placed < static_cast<int>(job.pending_tasks.size())) {
      std::string why = placed == allowed && allowed < static_cast<int>(job.pending_tasks.size())
                            ? "array throttle or start limit reached"
                            : "not enough free resources now";
      plan.unplaced.push_back({job.id, Status::Unschedulable(why)});
    }
  }
  return plan;
}

}  // namespace muster::sched
