// Turning grants into schedule-table rows (Placement), shared by the pass and the projection.
// Gang rows number ranks consecutively across groups: group g's local rank l gets gang rank
// (ranks placed on groups before g) + l, i.e. the task index pending_tasks[that rank].
// Placement::gpus holds the rank's own GPUs; within a node they ascend with local rank, so the
// concatenation over local ranks is the gang's CUDA_VISIBLE_DEVICES for that node.
#pragma once

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "sched/placement_pipeline.h"
#include "sched/plan.h"

namespace muster::sched {

inline Placement RowFor(const ClusterSnapshot& snapshot, const TaskRef& task, const Grant& g,
                        TimeMs start_ms, TimeMs finish_ms, bool start_now) {
  Placement p;
  p.task = task;
  p.node = g.node;
  p.node_name = snapshot.nodes[g.node].spec.name;
  for (uint64_t bits = g.gpus; bits != 0; bits &= bits - 1) p.gpus.push_back(__builtin_ctzll(bits));
  p.milli_cpus = g.milli_cpus;
  p.memory_mib = g.memory_mib;
  p.predicted_start_ms = start_ms;
  p.predicted_finish_ms = finish_ms;
  p.start_now = start_now;
  return p;
}

// Appends one row per rank of a placed gang; `finish_of(node)` gives each node's finish.
template <typename FinishOf>
void AppendGangRows(const ClusterSnapshot& snapshot, const PendingJob& job,
                    const std::vector<GangGroup>& groups, TimeMs start_ms, bool start_now,
                    FinishOf&& finish_of, std::vector<Placement>* rows) {
  int rank = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const GangGroup& g = groups[gi];
    const TimeMs finish = finish_of(g.node);
    const int local_world = static_cast<int>(g.ranks.size());
    for (int l = 0; l < local_world; ++l, ++rank) {
      const int task = job.pending_tasks[rank];
      Placement p = RowFor(snapshot, {job.id, task}, g.ranks[l], start_ms, finish, start_now);
      p.gang_rank = task;
      p.local_rank = l;
      p.local_world = local_world;
      p.group_rank = static_cast<int>(gi);
      rows->push_back(std::move(p));
    }
  }
}

// For each row of the plan, the GPUs its task should see (CUDA_VISIBLE_DEVICES): a single
// task's own GPUs; for a gang rank, the GPUs of all the gang's ranks on the same node (same
// job, node and start_now), concatenated in local-rank order, as torchrun does.
inline std::vector<std::vector<int>> VisibleGpusByRow(const Plan& plan) {
  std::map<std::tuple<JobId, int, bool>, std::vector<std::pair<int, size_t>>> gangs;
  for (size_t i = 0; i < plan.placements.size(); ++i) {
    const Placement& p = plan.placements[i];
    if (p.local_rank >= 0) gangs[{p.task.job, p.node, p.start_now}].push_back({p.local_rank, i});
  }
  std::vector<std::vector<int>> out(plan.placements.size());
  for (size_t i = 0; i < plan.placements.size(); ++i) out[i] = plan.placements[i].gpus;
  for (auto& [key, ranks] : gangs) {
    std::sort(ranks.begin(), ranks.end());
    std::vector<int> all;
    for (auto [local, i] : ranks)
      all.insert(all.end(), plan.placements[i].gpus.begin(), plan.placements[i].gpus.end());
    for (auto [local, i] : ranks) out[i] = all;
  }
  return out;
}

}  // namespace muster::sched
