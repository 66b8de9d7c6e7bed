#include "sched/timeline_projection.h"

#include "sched/placement_rows.h"

namespace muster::sched {

namespace {

// Places what fits of one waiting job at time t. Returns true if the job is blocked by
// resources (as opposed to done or held by its throttle).
bool Offer(const ProjectionInputs& in, ClusterState& state, ReleaseTimeline& timeline,
           WaitingJob& w, size_t& next_task, TimeMs t, std::vector<Placement>* rows) {
  // next_task indexes job.pending_tasks; it starts at w.first_task.
  const ClusterSnapshot& s = *in.snapshot;
  const PendingJob& job = s.queue[w.queue_index];
  const JobSpec& spec = *job.spec;
  PlacementAsk ask;
  ask.job = &job;
  ask.shape = in.shapes[w.queue_index];
  ask.duration_ms = job.predicted_duration_ms;
  ask.start_ms = t;
  if (spec.gang) {
    std::vector<GangGroup> groups;
    const int ranks = static_cast<int>(job.pending_tasks.size() - next_task);
    if (!in.pipeline->PlaceGang(ask, ranks, spec.ranks_per_node, job.pinned_node, state, &groups))
      return true;
    auto finish_of = [&](int node) { return ask.FinishOn(state, node); };
    AppendGangRows(s, job, groups, t, false, finish_of, rows);
    for (const auto& g : groups)
      for (const auto& grant : g.ranks) timeline.Add(finish_of(g.node), grant, w.queue_index);
    (*in.running)[w.queue_index] += ranks;
    next_task = job.pending_tasks.size();
    if (w.first_start_ms < 0) w.first_start_ms = t;
    return false;
  }
  const int throttle = spec.array.throttle;
  while (next_task < job.pending_tasks.size()) {
    if (throttle > 0 && (*in.running)[w.queue_index] >= throttle) return false;
    int node = in.pipeline->SelectNode(ask, state, job.pinned_node);
    if (node < 0) return true;
    const TimeMs finish = ask.FinishOn(state, node);
    Grant g = state.Take(node, ask.shape, finish);
    rows->push_back(RowFor(s, {job.id, job.pending_tasks[next_task]}, g, t, finish, false));
    timeline.Add(finish, g, w.queue_index);
    ++(*in.running)[w.queue_index];
    ++next_task;
    if (w.first_start_ms < 0) w.first_start_ms = t;
  }
  return false;
}

}  // namespace

void ProjectQueue(const ProjectionInputs& in, ClusterState& state, ReleaseTimeline& timeline,
                  std::vector<WaitingJob>& waiting, std::vector<Placement>* rows) {
  const int n = static_cast<int>(std::min<size_t>(waiting.size(), in.max_jobs));
  // Singly linked list of jobs still waiting, so finished ones cost nothing on later walks.
  std::vector<int> next(n);
  for (int i = 0; i < n; ++i) next[i] = i + 1;
  std::vector<size_t> next_task(n);
  for (int i = 0; i < n; ++i) next_task[i] = static_cast<size_t>(waiting[i].first_task);
  int first = n > 0 ? 0 : n;
  TimeMs t = in.snapshot->now_ms;
  while (first < n) {
    int prev = -1;
    for (int j = first; j < n;) {
      bool blocked = Offer(in, state, timeline, waiting[j], next_task[j], t, rows);
      int after = next[j];
      if (next_task[j] == in.snapshot->queue[waiting[j].queue_index].pending_tasks.size()) {
        waiting[j].complete = true;
        if (prev < 0)
          first = after;
        else
          next[prev] = after;
      } else {
        prev = j;
      }
      if (blocked) break;
      j = after;
    }
    if (first >= n || timeline.empty()) break;
    t = timeline.NextTime();
    timeline.ReleaseUntil(t, state, [&](int owner) {
      if (owner >= 0) --(*in.running)[owner];
    });
  }
}

}  // namespace muster::sched
