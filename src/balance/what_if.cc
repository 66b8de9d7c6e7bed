#include "balance/what_if.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/capacity.h"

namespace muster::balance {

namespace {

double SpeedOf(const sched::NodeView& v) {
  return v.spec.speed > 0 ? v.spec.speed : 1.0;
}

void Credit(sched::NodeView& v, const sched::RunningTask& t) {
  Release(v.free, t.resources, t.gpus);
}

// Debits one task of request r on v: the GPUs `wanted` when they are free and match, else the
// lowest free matching ones; the GPUs taken.
Result<std::vector<int>> Debit(sched::NodeView& v, const ResourceRequest& r,
                               const std::vector<int>& wanted) {
  const std::string where = "node " + v.spec.name;
  if (v.state != NodeState::kReady) return Status::FailedPrecondition(where + " is not ready");
  v.free.gpu_free.resize(v.spec.gpus.size(), false);
  Fit fit = TryTakePreferring(v.spec, v.free, r, wanted);
  if (fit.misfit == Misfit::kCpu || fit.misfit == Misfit::kMemory)
    return Status::FailedPrecondition(where + " lacks CPU or memory for the move");
  if (!fit.ok()) return Status::FailedPrecondition(where + " lacks free GPUs for the move");
  return std::move(fit.gpus);
}

const std::vector<int>& Wanted(const Move& m, size_t i) {
  static const std::vector<int> kNone;
  return i < m.to_gpus.size() ? m.to_gpus[i] : kNone;
}

Status ApplyMigrate(sched::ClusterSnapshot& s, const Move& m) {
  const TimeMs now = s.now_ms;
  for (size_t i = 0; i < m.tasks.size(); ++i) {
    const TaskRef ref{m.job, m.tasks[i]};
    auto it = std::find_if(s.running.begin(), s.running.end(),
                           [&](const auto& t) { return t.task == ref && t.node == m.from_node; });
    if (it == s.running.end())
      return Status::NotFound("task " + ref.ToString() + " is not running on node index " +
                              std::to_string(m.from_node));
    sched::RunningTask t = *it;
    s.running.erase(it);
    Credit(s.nodes[m.from_node], t);
    ResourceRequest r = t.resources;
    r.gpus = static_cast<int>(t.gpus.size());
    auto gpus = Debit(s.nodes[m.to_node], r, Wanted(m, i));
    if (!gpus.ok()) return gpus.status();
    const double rem = static_cast<double>(std::max<TimeMs>(0, t.predicted_finish_ms - now));
    const double moved = rem * SpeedOf(s.nodes[m.from_node]) / SpeedOf(s.nodes[m.to_node]);
    t.node = m.to_node;
    t.gpus = *gpus;
    t.started_ms = now;
    t.predicted_finish_ms = now + static_cast<DurationMs>(std::llround(m.cost_s * 1000 + moved));
    s.running.push_back(std::move(t));
  }
  return Status::Ok();
}

Status ApplyStart(sched::ClusterSnapshot& s, const Move& m) {
  auto job =
      std::find_if(s.queue.begin(), s.queue.end(), [&](const auto& j) { return j.id == m.job; });
  if (job == s.queue.end())
    return Status::NotFound("job " + std::to_string(m.job) + " is not queued");
  if (!job->spec)
    return Status::InvalidArgument("queued job " + std::to_string(m.job) + " has no spec");
  const ResourceRequest& r = job->spec->resources;
  for (size_t i = 0; i < m.tasks.size(); ++i) {
    auto pt = std::find(job->pending_tasks.begin(), job->pending_tasks.end(), m.tasks[i]);
    if (pt == job->pending_tasks.end())
      return Status::NotFound("task " + TaskRef{m.job, m.tasks[i]}.ToString() + " is not pending");
    auto gpus = Debit(s.nodes[m.to_node], r, Wanted(m, i));
    if (!gpus.ok()) return gpus.status();
    job->pending_tasks.erase(pt);
    ++job->running_tasks;
    sched::RunningTask t;
    t.task = {m.job, m.tasks[i]};
    t.node = m.to_node;
    t.gpus = *gpus;
    t.resources = r;
    t.started_ms = s.now_ms;
    t.predicted_finish_ms =
        s.now_ms +
        static_cast<DurationMs>(std::llround(static_cast<double>(job->predicted_duration_ms) /
                                             SpeedOf(s.nodes[m.to_node])));
    t.checkpointable = job->spec->checkpointable;
    s.running.push_back(std::move(t));
  }
  if (job->pending_tasks.empty()) s.queue.erase(job);
  return Status::Ok();
}

}  // namespace

Result<sched::ClusterSnapshot> ApplyMoves(const sched::ClusterSnapshot& snapshot,
                                          const std::vector<Move>& moves) {
  sched::ClusterSnapshot s = snapshot;
  const int n = static_cast<int>(s.nodes.size());
  for (const Move& m : moves) {
    if (m.to_node < 0 || m.to_node >= n || m.from_node >= n ||
        (m.kind == MoveKind::kMigrate && m.from_node < 0))
      return Status::InvalidArgument("move of job " + std::to_string(m.job) +
                                     " names a node index out of range");
    Status st = m.kind == MoveKind::kMigrate ? ApplyMigrate(s, m) : ApplyStart(s, m);
    if (!st.ok()) return st;
  }
  return s;
}

}  // namespace muster::balance
