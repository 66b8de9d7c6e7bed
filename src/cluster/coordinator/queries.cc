// Coordinator: read-only views (GetJob, ListJobs, ListNodes, GetSchedule, log targets), in the
// core types of views.h.
//
// Node load (NodeView::load) = GPUs allocated / GPUs on the node; on a node without GPUs it is the
// CPU share instead: milli-CPUs allocated / milli-CPUs of the node. Allocation means launching or
// running tasks as the coordinator sees them, not measured utilization (that is in heartbeats).
#include <array>
#include <map>
#include <set>

#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

TaskView Coordinator::ViewTask(const TaskRecord& t) const {
  TaskView v{.index = t.index,
             .state = t.state,
             .node = t.node,
             .gpus = t.gpus,
             .attempt = t.attempt,
             .exit_code = t.exit_code,
             .message = t.message,
             .start_ms = t.start_ms,
             .end_ms = t.end_ms,
             .progress = t.progress,
             .retries = t.retries,
             .peak_memory_mib = t.peak_memory_mib,
             .cpu_seconds = t.cpu_seconds};
  if (t.Active()) {
    // What the coordinator believes about a task it cannot currently confirm, said as such.
    const NodeEntry* n = nodes_.Find(t.node);
    if (n && n->recovering)
      v.message = "unconfirmed: node " + t.node +
                  " has not re-registered since the coordinator restarted";
    else if (n && !n->lost && !n->channel)
      v.message = "unconfirmed: node " + t.node + " is out of contact";
    else if (t.confirm_deadline_ms > 0 && t.state == TaskState::kRunning)
      v.message = "unconfirmed: its agent re-registered without listing it";
  }
  if (!t.Done()) {
    v.predicted_start_ms = t.state == TaskState::kPending ? t.predicted_start_ms : t.start_ms;
    v.predicted_finish_ms = t.predicted_finish_ms;
  }
  return v;
}

JobView Coordinator::ViewJob(const JobRecord& j, bool with_tasks) const {
  JobView v{.id = j.id,
            .spec = j.spec,
            .state = j.state,
            .submit_ms = j.submit_ms,
            .start_ms = j.start_ms,
            .end_ms = j.end_ms,
            .submit_prediction = j.submit_prediction,
            .reason = j.reason,
            .history = j.history};
  if (!IsTerminal(j.state)) {
    v.predicted_start_ms = j.state == JobState::kPending ? j.predicted_start_ms : j.start_ms;
    v.predicted_finish_ms = j.predicted_finish_ms;
  }
  // The reason also carries the latest balancer event when there is nothing more current to
  // say, so `muster show` displays "migrated from X to Y at ..." (never a prediction line).
  for (auto it = j.history.rbegin(); v.reason.empty() && it != j.history.rend(); ++it)
    if (!IsPredictionLine(*it)) v.reason = *it;
  std::set<std::string_view> nodes;
  if (with_tasks) v.tasks.reserve(j.tasks.size());
  for (const auto& t : j.tasks) {
    ++v.task_state_counts[static_cast<size_t>(t.state)];
    if (!t.node.empty() && (t.Active() || !j.counts.active)) nodes.insert(t.node);
    if (with_tasks) v.tasks.push_back(ViewTask(t));
  }
  v.nodes.assign(nodes.begin(), nodes.end());
  return v;
}

Result<JobView> Coordinator::GetJob(JobId id) const {
  MutexLock lock(mu_);
  const JobRecord* j = jobs_.Find(id);
  if (!j) return Status::NotFound("job " + std::to_string(id) + " not found");
  return ViewJob(*j, /*with_tasks=*/true);
}

JobListView Coordinator::ListJobs(const JobQuery& query) const {
  MutexLock lock(mu_);
  JobListView out{.now_ms = clock_->NowMs(),
                  .store_condition = read_only_.message(),
                  .fairshare_half_life_ms = options_.fairshare_half_life_ms};
  const std::set<JobState> states(query.states.begin(), query.states.end());
  bool finished = query.include_finished;
  for (JobState s : states) finished = finished || IsTerminal(s);
  auto wanted = [&](const JobRecord& j) {
    return (query.user.empty() || j.spec->user == query.user) &&
           (query.name.empty() || j.spec->name == query.name) &&
           (states.empty() || states.contains(j.state)) &&
           (query.since_ms <= 0 || j.submit_ms >= query.since_ms || j.end_ms >= query.since_ms);
  };
  std::vector<const JobRecord*> picked;
  if (finished) {
    for (const auto& [id, j] : jobs_.all())
      if (wanted(j)) picked.push_back(&j);
  } else {
    for (JobId id : jobs_.active()) {
      const JobRecord& j = jobs_.Get(id);
      if (!IsTerminal(j.state) && wanted(j)) picked.push_back(&j);
    }
  }
  size_t from = 0;
  if (query.limit > 0 && picked.size() > query.limit) from = picked.size() - query.limit;
  out.jobs.reserve(picked.size() - from);
  for (size_t i = from; i < picked.size(); ++i)
    out.jobs.push_back(ViewJob(*picked[i], query.with_tasks));
  return out;
}

NodeListView Coordinator::ListNodes() const {
  MutexLock lock(mu_);
  NodeListView out{.now_ms = clock_->NowMs(), .store_condition = read_only_.message()};
  for (const auto& [name, n] : nodes_.all()) {
    const NodeSpec& s = n.rec.spec;
    const NodeFree* known = cluster_.Free(name);
    NodeView v{.spec = s,
               .address = n.rec.address,
               .gpu_readings = std::vector<GpuReadings>(s.gpus.size()),
               .state = NodeStateText(n),
               .free = known ? *known : NodeFree::AllFree(s),
               .running_tasks = cluster_.Holders(name),
               .last_heartbeat_ms = n.rec.last_seen_ms,
               .containment = n.containment,
               .only_user = n.only_user,
               .drain_reason = n.rec.drain_reason,
               .drained_by = n.rec.drained_by,
               .drained_ms = n.rec.drain_ms};
    for (const auto& g : n.usage.gpus())
      for (size_t i = 0; i < s.gpus.size(); ++i)
        if (s.gpus[i].index == g.index())
          v.gpu_readings[i] = {.utilization = g.utilization(),
                               .power_w = g.power_w(),
                               .memory_used_mib = g.memory_used_mib()};
    if (!s.gpus.empty())
      v.load = static_cast<double>(s.gpus.size() - v.free.FreeGpuCount()) /
               static_cast<double>(s.gpus.size());
    else if (s.milli_cpus > 0)
      v.load = static_cast<double>(s.milli_cpus - v.free.milli_cpus) /
               static_cast<double>(s.milli_cpus);
    out.nodes.push_back(std::move(v));
  }
  return out;
}

ScheduleView Coordinator::GetSchedule(bool include_finished) const {
  MutexLock lock(mu_);
  ScheduleView out{.now_ms = clock_->NowMs()};
  auto add = [&](const JobRecord& j) {
    for (const auto& t : j.tasks) {
      if (t.Done() && !include_finished) continue;
      ScheduleRow row{.job_id = j.id,
                      .task_index = t.index,
                      .job_name = j.spec->name,
                      .state = t.state,
                      .actual_start_ms = t.start_ms,
                      .actual_finish_ms = t.Done() ? t.end_ms : 0,
                      .submit_predicted_start_ms = j.submit_prediction.start_ms,
                      .submit_predicted_finish_ms = j.submit_prediction.finish_ms};
      if (t.state == TaskState::kPending) {
        row.predicted_start_ms = t.predicted_start_ms;
      } else {
        row.node = t.node;
        row.gpus = t.gpus;
        // Started (or finished) tasks keep the prediction made when they were launched, so the
        // table can set predicted against actual times.
        row.predicted_start_ms = t.predicted_start_ms > 0 ? t.predicted_start_ms : t.start_ms;
      }
      row.predicted_finish_ms = t.predicted_finish_ms;
      out.rows.push_back(std::move(row));
    }
  };
  if (include_finished) {
    for (const auto& [id, j] : jobs_.all()) add(j);
  } else {
    for (JobId id : jobs_.active()) add(jobs_.Get(id));
  }
  return out;
}

Result<std::vector<std::pair<int, bool>>> Coordinator::LogTargets(JobId job, int task_index) const {
  MutexLock lock(mu_);
  const JobRecord* j = jobs_.Find(job);
  if (!j) return Status::NotFound("job " + std::to_string(job) + " not found");
  std::vector<std::pair<int, bool>> out;
  auto finished = [&](const TaskRecord& t) {
    return t.Done() || (IsTerminal(j->state) && !t.Active());
  };
  if (task_index >= 0) {
    const TaskRecord* t = JobTable::FindTask(*j, task_index);
    if (!t)
      return Status::NotFound("job " + std::to_string(job) + " has no task " +
                              std::to_string(task_index));
    out.push_back({t->index, finished(*t)});
    return out;
  }
  for (const auto& t : j->tasks) out.push_back({t.index, finished(t)});
  return out;
}

Result<std::string> Coordinator::JobOwner(JobId id) const {
  MutexLock lock(mu_);
  const JobRecord* j = jobs_.Find(id);
  if (!j) return Status::NotFound("job " + std::to_string(id) + " not found");
  return j->spec->user;
}

void Coordinator::Audit(const Caller& caller, std::string action, std::string target,
                        const Status& result) {
  // Every field is bounded: what a caller names (a node, a user) is its input.
  auto cut = [](std::string s) {
    if (s.size() > 300) s = s.substr(0, 300) + "…";
    return s;
  };
  store_->AppendAudit({clock_->NowMs(), cut(caller.name), RoleName(caller.role), cut(caller.via),
                       cut(caller.peer), cut(std::move(action)), cut(std::move(target)),
                       cut(result.ok() ? "ok" : result.message())});
}

Result<std::vector<AuditRecord>> Coordinator::AuditLog(TimeMs since_ms,
                                                       const std::string& identity,
                                                       int limit) const {
  return store_->LoadAudit(since_ms, identity, limit);
}

}  // namespace muster::cluster
