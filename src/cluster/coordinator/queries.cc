// Coordinator: read-only views (GetJob, ListJobs, ListNodes, GetSchedule, log targets).
//
// Node load (NodeInfo.load) = GPUs allocated / GPUs on the node; on a node without GPUs it is the
// CPU share instead: milli-CPUs allocated / milli-CPUs of the node. Allocation means launching or
// running tasks as the coordinator sees them, not measured utilization (that is in heartbeats).
#include <array>
#include <map>
#include <set>

#include "cluster/common/convert.h"
#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

void Coordinator::FillTaskInfo(const JobRecord& j, const TaskRecord& t, v1::TaskInfo* out) const {
  out->set_index(t.index);
  out->set_state(ToProto(t.state));
  out->set_node(t.node);
  for (int g : t.gpus) out->add_gpus(g);
  out->set_attempt(t.attempt);
  out->set_exit_code(t.exit_code);
  out->set_peak_memory_mib(t.peak_memory_mib);
  out->set_cpu_seconds(t.cpu_seconds);
  out->set_message(t.message);
  if (t.Active()) {
    // What the coordinator believes about a task it cannot currently confirm, said as such.
    const NodeEntry* n = nodes_.Find(t.node);
    if (n && n->recovering)
      out->set_message("unconfirmed: node " + t.node +
                       " has not re-registered since the coordinator restarted");
    else if (n && !n->lost && !n->channel)
      out->set_message("unconfirmed: node " + t.node + " is out of contact");
    else if (t.confirm_deadline_ms > 0 && t.state == TaskState::kRunning)
      out->set_message("unconfirmed: its agent re-registered without listing it");
  }
  out->set_start_ms(t.start_ms);
  out->set_end_ms(t.end_ms);
  if (!t.Done()) {
    out->set_predicted_start_ms(t.state == TaskState::kPending ? t.predicted_start_ms : t.start_ms);
    out->set_predicted_finish_ms(t.predicted_finish_ms);
  }
  if (!t.progress.empty()) out->mutable_progress()->ParseFromString(t.progress);
  out->set_retries(t.retries);
}

void Coordinator::FillJobInfo(const JobRecord& j, bool with_tasks, v1::JobInfo* out) const {
  out->set_job_id(j.id);
  ToProto(*j.spec, out->mutable_spec());
  out->set_state(ToProto(j.state));
  out->set_submit_ms(j.submit_ms);
  out->set_start_ms(j.start_ms);
  out->set_end_ms(j.end_ms);
  if (!IsTerminal(j.state)) {
    out->set_predicted_start_ms(j.state == JobState::kPending ? j.predicted_start_ms : j.start_ms);
    out->set_predicted_finish_ms(j.predicted_finish_ms);
  }
  const JobRecord::SubmitPrediction& sp = j.submit_prediction;
  if (sp.made_ms > 0) {
    out->set_submit_prediction_made_ms(sp.made_ms);
    out->set_submit_predicted_start_ms(sp.start_ms);
    out->set_submit_predicted_finish_ms(sp.finish_ms);
    out->set_submit_predicted_low_s(sp.low_s);
    out->set_submit_predicted_high_s(sp.high_s);
  }
  // The reason field also carries the latest balancer event when there is nothing more current
  // to say, so `muster show` displays "migrated from X to Y at ..." (never a prediction line).
  std::string reason = j.reason;
  for (auto it = j.history.rbegin(); reason.empty() && it != j.history.rend(); ++it)
    if (!IsPredictionLine(*it)) reason = *it;
  out->set_reason(reason);
  for (const auto& h : j.history) out->add_history(h);
  std::array<int, kTaskStateCount> counts{};
  std::set<std::string_view> nodes;
  for (const auto& t : j.tasks) {
    ++counts[static_cast<size_t>(t.state)];
    if (!t.node.empty() && (t.Active() || !j.counts.active)) nodes.insert(t.node);
    if (with_tasks) FillTaskInfo(j, t, out->add_tasks());
  }
  for (std::string_view n : nodes) out->add_nodes(std::string(n));
  for (size_t s = 0; s < counts.size(); ++s)
    if (counts[s] > 0)
      (*out->mutable_task_state_counts())[TaskStateName(static_cast<TaskState>(s))] = counts[s];
}

Result<v1::JobInfo> Coordinator::GetJob(JobId id) const {
  MutexLock lock(mu_);
  const JobRecord* j = jobs_.Find(id);
  if (!j) return Status::NotFound("job " + std::to_string(id) + " not found");
  v1::JobInfo info;
  FillJobInfo(*j, /*with_tasks=*/true, &info);
  return info;
}

v1::JobList Coordinator::ListJobs(const v1::ListJobsRequest& request) const {
  MutexLock lock(mu_);
  v1::JobList out;
  out.set_now_ms(clock_->NowMs());
  out.set_store_condition(read_only_.message());
  std::set<JobState> states;
  bool finished = request.include_finished();
  for (int s : request.states())
    if (auto st = FromProto(static_cast<v1::JobState>(s)); st.ok()) {
      states.insert(*st);
      finished = finished || IsTerminal(*st);
    }
  auto wanted = [&](const JobRecord& j) {
    return (request.user().empty() || j.spec->user == request.user()) &&
           (request.name().empty() || j.spec->name == request.name()) &&
           (states.empty() || states.contains(j.state)) &&
           (request.since_ms() <= 0 || j.submit_ms >= request.since_ms() ||
            j.end_ms >= request.since_ms());
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
  if (request.limit() > 0 && picked.size() > static_cast<size_t>(request.limit()))
    from = picked.size() - static_cast<size_t>(request.limit());
  for (size_t i = from; i < picked.size(); ++i)
    FillJobInfo(*picked[i], request.with_tasks(), out.add_jobs());
  out.set_fairshare_half_life_ms(options_.fairshare_half_life_ms);
  return out;
}

v1::NodeList Coordinator::ListNodes() const {
  MutexLock lock(mu_);
  v1::NodeList out;
  out.set_now_ms(clock_->NowMs());
  out.set_store_condition(read_only_.message());
  for (const auto& [name, n] : nodes_.all()) {
    auto* info = out.add_nodes();
    ToProto(n.rec.spec, info->mutable_spec(), n.rec.address);
    for (const auto& g : n.usage.gpus()) {
      for (auto& dev : *info->mutable_spec()->mutable_gpus()) {
        if (dev.index() != g.index()) continue;
        dev.set_utilization(g.utilization());
        dev.set_power_w(g.power_w());
        dev.set_memory_used_mib(g.memory_used_mib());
      }
    }
    info->set_state(NodeStateText(n));
    info->set_drain_reason(n.rec.drain_reason);
    info->set_drained_by(n.rec.drained_by);
    info->set_drained_ms(n.rec.drain_ms);
    const NodeFree* known = cluster_.Free(name);
    const NodeFree f = known ? *known : NodeFree::AllFree(n.rec.spec);
    info->set_free_milli_cpus(f.milli_cpus);
    info->set_free_memory_mib(f.memory_mib);
    for (bool b : f.gpu_free) info->add_gpu_free(b);
    info->set_running_tasks(cluster_.Holders(name));
    info->set_last_heartbeat_ms(n.rec.last_seen_ms);
    info->set_containment(n.containment);
    info->set_only_user(n.only_user);
    const NodeSpec& s = n.rec.spec;
    double load = 0;
    if (!s.gpus.empty())
      load = static_cast<double>(s.gpus.size() - f.FreeGpuCount()) /
             static_cast<double>(s.gpus.size());
    else if (s.milli_cpus > 0)
      load = static_cast<double>(s.milli_cpus - f.milli_cpus) / static_cast<double>(s.milli_cpus);
    info->set_load(load);
  }
  return out;
}

v1::ScheduleTable Coordinator::GetSchedule(const v1::GetScheduleRequest& request) const {
  MutexLock lock(mu_);
  v1::ScheduleTable out;
  out.set_now_ms(clock_->NowMs());
  auto add = [&](const JobRecord& j) {
    for (const auto& t : j.tasks) {
      if (t.Done() && !request.include_finished()) continue;
      auto* row = out.add_rows();
      row->set_job_id(j.id);
      row->set_task_index(t.index);
      row->set_job_name(j.spec->name);
      row->set_state(ToProto(t.state));
      if (t.state != TaskState::kPending) {
        row->set_node(t.node);
        for (int g : t.gpus) row->add_gpus(g);
      }
      if (t.state == TaskState::kPending) {
        row->set_predicted_start_ms(t.predicted_start_ms);
        row->set_predicted_finish_ms(t.predicted_finish_ms);
      } else {
        // Started (or finished) tasks keep the prediction made when they were launched, so the
        // table can set predicted against actual times.
        row->set_predicted_start_ms(t.predicted_start_ms > 0 ? t.predicted_start_ms : t.start_ms);
        row->set_predicted_finish_ms(t.predicted_finish_ms);
      }
      row->set_actual_start_ms(t.start_ms);
      if (t.Done()) row->set_actual_finish_ms(t.end_ms);
      row->set_submit_predicted_start_ms(j.submit_prediction.start_ms);
      row->set_submit_predicted_finish_ms(j.submit_prediction.finish_ms);
    }
  };
  if (request.include_finished()) {
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
