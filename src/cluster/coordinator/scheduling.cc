// Coordinator: the scheduling pass (snapshot -> sched::Schedule -> plan applier) and the task
// environment of a launch. See coordinator.h for the algorithm.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <tuple>

#include "cluster/common/convert.h"
#include "cluster/coordinator/coordinator.h"
#include "cluster/coordinator/launch_builder.h"
#include "core/capacity.h"
#include "sched/filter_node_user.h"
#include "sched/plan_apply.h"

namespace muster::cluster {

bool Coordinator::DependenciesMet(JobRecord& j) {
  // A dependency that can no longer be met fails the job, with why.
  auto never = [&](const std::string& why) REQUIRES(mu_) {
    TimeMs now = clock_->NowMs();
    if (!jobs_.SetJobState(j, JobState::kFailed).ok()) return false;
    j.end_ms = now;
    j.reason = why;
    for (auto& t : j.tasks) {
      if (t.state != TaskState::kPending) continue;
      Transition(j, t, TaskState::kCancelled);
      t.end_ms = now;
      t.message = j.reason;
      PersistTask(j, t);
    }
    PersistJob(j);
    Reconcile(j);
    return false;
  };
  // Waiting for `on` (0: for a release): parked until it ends (JobTable).
  auto wait = [&](const std::string& why, JobId on) REQUIRES(mu_) {
    if (j.reason != why) {
      j.reason = why;
      PersistJob(j);
    }
    jobs_.Park(j.id, on);
    return false;
  };
  if (j.held_ms > 0)
    return wait("held by " + j.held_by + " (muster release " + std::to_string(j.id) + ")", 0);
  auto ended = [](const JobRecord* d) { return !d || IsTerminal(d->state); };  // gone: ended
  auto how = [](const JobRecord* d) {
    return !d                                 ? std::string(" is gone")
           : d->state == JobState::kCancelled ? std::string(" was cancelled")
           : d->state == JobState::kTimeout   ? std::string(" timed out")
           : d->state == JobState::kOom       ? std::string(" ran out of memory")
                                              : std::string(" failed");
  };
  for (JobId dep : j.spec->after) {  // afterok
    const JobRecord* d = jobs_.Find(dep);
    if (d && d->state == JobState::kSucceeded) continue;
    if (ended(d)) return never("dependency " + std::to_string(dep) + how(d));
    return wait("waiting for job " + std::to_string(dep), dep);
  }
  for (JobId dep : j.spec->after_any) {
    const JobRecord* d = jobs_.Find(dep);
    if (!ended(d)) return wait("waiting for job " + std::to_string(dep) + " to end", dep);
  }
  for (JobId dep : j.spec->after_notok) {
    const JobRecord* d = jobs_.Find(dep);
    if (d && d->state == JobState::kSucceeded)
      return never("dependency " + std::to_string(dep) +
                   " succeeded, and this job runs only if it does not (afternotok)");
    if (!ended(d))
      return wait("waiting for job " + std::to_string(dep) + " to end (afternotok)", dep);
  }
  if (j.spec->singleton)
    for (JobId other : jobs_.active()) {
      if (other >= j.id) break;  // the active set is ordered: only earlier jobs hold it back
      const JobRecord& o = jobs_.Get(other);
      if (!IsTerminal(o.state) && o.spec->name == j.spec->name && o.spec->user == j.spec->user)
        return wait("singleton: waiting for job " + std::to_string(other) + " (same name)",
                    other);
    }
  jobs_.Unpark(j.id);
  return true;
}

bool IsPredictionLine(const std::string& line) {
  return line.rfind("predicted at submit: ", 0) == 0 || line.rfind("re-predicted at ", 0) == 0;
}

void Coordinator::RecordPredictions(TimeMs now) {
  // Whole seconds: "start in 12m, finish in 1h5m", not milliseconds.
  auto secs = [](DurationMs ms) {
    return FormatDurationMs((std::max<DurationMs>(0, ms) + 500) / 1000 * 1000);
  };
  auto in = [&](TimeMs t) { return secs(t - now); };
  for (JobId id : jobs_.active()) {
    JobRecord& j = jobs_.Get(id);
    if (IsTerminal(j.state) || j.predicted_finish_ms <= 0) continue;
    const TimeMs start = j.start_ms > 0 ? j.start_ms : j.predicted_start_ms;
    if (start <= 0) continue;
    if (j.submit_prediction.made_ms == 0) {
      // A job that started before this coordinator opened its state (before predictions were
      // recorded) has no prediction made at its submit.
      if (j.start_ms > 0 && j.start_ms < opened_wall_ms_) continue;
      // The run-time interval of one task, on the device it most likely gets (as the pass).
      const JobSpec& s = *j.spec;
      const model::Prediction p = calibrator_.Predict(QueryOf(s, LikelyDevice(s)), 0.9);
      j.submit_prediction = {.made_ms = now,
                             .start_ms = start,
                             .finish_ms = j.predicted_finish_ms,
                             .low_s = p.low,
                             .high_s = p.high,
                             .run_s = p.seconds,
                             .interval_scale = p.interval_scale,
                             .log_interval = p.log_interval};
      store_->UpdatePrediction(j);
      char interval[96];
      std::snprintf(interval, sizeof interval, "run %s (90%%: %s to %s)",
                    secs(j.predicted_finish_ms - start).c_str(),
                    secs(static_cast<DurationMs>(p.low * 1000)).c_str(),
                    secs(static_cast<DurationMs>(p.high * 1000)).c_str());
      AddHistory(j, "predicted at submit: start in " + in(start) + ", finish in " +
                        in(j.predicted_finish_ms) + "; " + interval);
      j.logged_start_ms = start;
      j.logged_finish_ms = j.predicted_finish_ms;
      continue;
    }
    if (j.logged_repredictions >= kMaxRepredictionLines) continue;
    if (j.logged_start_ms == 0) {  // after a restart: compare with what was predicted at submit
      j.logged_start_ms = j.submit_prediction.start_ms;
      j.logged_finish_ms = j.submit_prediction.finish_ms;
    }
    auto moved = [now](TimeMs was, TimeMs is) {
      return std::llabs(is - was) > std::max<TimeMs>(60000, std::llabs(was - now) / 10);
    };
    const bool start_moved = j.start_ms == 0 && moved(j.logged_start_ms, start);
    if (!start_moved && !moved(j.logged_finish_ms, j.predicted_finish_ms)) continue;
    AddHistory(j, "re-predicted at " + UtcTime(now) + ": " +
                      (j.start_ms == 0 ? "start in " + in(start) + ", " : std::string()) +
                      "finish in " + in(j.predicted_finish_ms));
    j.logged_start_ms = start;
    j.logged_finish_ms = j.predicted_finish_ms;
    ++j.logged_repredictions;
  }
}

Coordinator::PassOutcome Coordinator::SchedulingPass() {
  sched::ClusterSnapshot snap;
  bool full = false;  // a prediction pass: every pending task, with predicted rows
  {
    MutexLock lock(mu_);
    snap.now_ms = clock_->NowMs();
    full = snap.now_ms - last_prediction_ms_ >= options_.prediction_period_ms ||
           BalanceDue(snap.now_ms) ||
           (new_jobs_ && std::chrono::steady_clock::now() >= next_new_job_prediction_);
    if (full) {
      last_prediction_ms_ = snap.now_ms;
      new_jobs_ = false;
    }
    std::map<std::string, int> index;
    snap.nodes = cluster_.SchedulableViews();
    for (auto& v : snap.nodes) {
      index[v.spec.name] = static_cast<int>(index.size());
      if (const NodeEntry* n = nodes_.Find(v.spec.name)) v.only_user = n->only_user;
    }
    // A prediction pass looks at every active job; the others at those that hold resources
    // (their running tasks) and those not parked (what could start).
    std::vector<JobId> ids;
    if (full) {
      ids.assign(jobs_.active().begin(), jobs_.active().end());
    } else {
      std::set_union(jobs_.holding().begin(), jobs_.holding().end(), jobs_.unparked().begin(),
                     jobs_.unparked().end(), std::back_inserter(ids));
    }
    // Fair share: each user's dominant share (max over CPU, memory, GPUs of what the user's
    // launching/running tasks hold, relative to the connected nodes' capacity).
    ScalarResources total;
    for (const auto& n : snap.nodes) total += n.spec.Capacity();
    capacity_ = total;
    DecayPastUsage(snap.now_ms);
    LimitBudget budget = LimitBudget::Build(limits_, jobs_);
    const std::map<std::string, double> held = HeldShares(total);
    auto dominant_share = [&](const std::string& user) {
      auto it = held.find(user);
      return it == held.end() ? 0.0 : it->second;
    };
    // The device a pending job will most likely get: that of the first connected node that
    // could ever hold one of its tasks (cached per request shape for this pass).
    std::map<std::tuple<int, MiB, std::string, MilliCpu, MiB>, std::string> device_cache;
    auto likely_device = [&](const JobSpec& spec) REQUIRES(mu_) -> std::string {
      const ResourceRequest& r = spec.resources;
      if (r.gpus == 0) return "cpu";
      auto key = std::tuple(r.gpus, r.min_gpu_memory_mib, r.gpu_model, r.milli_cpus, r.memory_mib);
      auto it = device_cache.find(key);
      if (it != device_cache.end()) return it->second;
      std::string device;
      for (const auto& n : snap.nodes)
        if (n.spec.CouldEverFit(r)) {
          device = DeviceKey(spec, n.spec.name);
          break;
        }
      return device_cache[key] = device;
    };
    if (snap.nodes.empty()) {
      // Nothing can start: only keep the reasons current (and dependency failures) cheaply.
      for (JobId id : ids) {
        JobRecord& j = jobs_.Get(id);
        if (j.state != JobState::kPending || !DependenciesMet(j) || j.reason == "waiting for nodes")
          continue;
        j.reason = "waiting for nodes";
        PersistJob(j);
      }
      return {.predicted = full};
    }
    const bool srtf = options_.preemption == "srtf";
    const bool las = options_.scheduler.queue_policy == "las";
    // How many tasks of a request fit in what is free now, counted once per request shape.
    std::map<std::tuple<MilliCpu, MiB, int, MiB, std::string>, int64_t> fits_now;
    auto fitting = [&](const ResourceRequest& r) {
      auto key = std::tuple(r.milli_cpus, r.memory_mib, r.gpus, r.min_gpu_memory_mib, r.gpu_model);
      auto [it, fresh] = fits_now.try_emplace(key, 0);
      if (fresh)
        for (const auto& n : snap.nodes) it->second += FreeTasksThatFit(n.spec, n.free, r);
      return it->second;
    };
    for (JobId id : ids) {
      JobRecord& j = jobs_.Get(id);
      sched::PendingJob pj;
      for (int index_of_task : j.active_tasks) {
        const TaskRecord& t = *JobTable::FindTask(j, index_of_task);
        ++pj.running_tasks;
        auto it = index.find(t.node);
        if (it == index.end()) continue;
        snap.running.push_back({.task = {j.id, t.index},
                                .node = it->second,
                                .gpus = t.gpus,
                                .resources = j.spec->resources,
                                .started_ms = t.start_ms,
                                .predicted_finish_ms = std::max(snap.now_ms, t.predicted_finish_ms),
                                .checkpointable = j.spec->checkpointable});
      }
      if (IsTerminal(j.state) || j.gang_stopping || j.pending_tasks.empty()) continue;
      // A gang being migrated waits until all of its ranks have stopped (it restarts whole).
      if (j.spec->gang && !j.migrate_reason.empty()) continue;
      if (!full && jobs_.Parked(j.id)) continue;  // waiting; woken when what it waits for ends
      if (!DependenciesMet(j)) continue;
      size_t offer = j.pending_tasks.size();
      if (!full && !j.spec->gang) {
        // Between prediction passes an array offers what fits in what is free now and one task
        // more (no pass starts more; the one that does not fit keeps the job's place and its
        // reservation in the order), so the rest of a large array costs nothing.
        offer = std::min<size_t>({offer, options_.max_tasks_offered_per_job,
                                  static_cast<size_t>(fitting(j.spec->resources)) + 1});
      }
      pj.pending_tasks.reserve(offer);
      for (auto it = j.pending_tasks.begin(); pj.pending_tasks.size() < offer; ++it)
        pj.pending_tasks.push_back(*it);
      pj.id = j.id;
      pj.spec = j.spec;
      pj.submitted_ms = j.submit_ms;
      pj.predicted_duration_ms =
          static_cast<DurationMs>(PredictSeconds(*j.spec, likely_device(*j.spec)) * 1000);
      // sjf orders by the time left under srtf; las by the service received (preempting or
      // not).
      if (srtf)
        pj.predicted_duration_ms =
            PreemptionKey(j, nullptr, pj.predicted_duration_ms, snap.now_ms).key;
      if (las)
        pj.attained_gpu_seconds = AttainedGpuMs(j, snap.now_ms) / 1000.0;
      pj.user_dominant_share = dominant_share(j.spec->user) + PastShare(j.spec->user, snap.now_ms);
      if (budget.any()) {  // limits: offer only what fits in what is left of them
        std::string why;
        const size_t allowed = budget.Allowed(j, pj.pending_tasks.size(), &why);
        if (allowed == 0 || (j.spec->gang && allowed < pj.pending_tasks.size())) {
          if (why.empty()) why = "user or group limit: not enough left for every rank of the gang";
          if (j.reason != why) {
            j.reason = why;
            PersistJob(j);
          }
          continue;
        }
        pj.pending_tasks.resize(allowed);
        budget.Take(j, allowed);
      }
      if (!j.pinned_node.empty()) {  // a balancer move: only that node, while it is there
        auto pin = index.find(j.pinned_node);
        if (pin != index.end()) pj.pinned_node = pin->second;
      }
      snap.queue.push_back(std::move(pj));
    }
  }
  size_t offered = 0;
  for (const auto& q : snap.queue) offered += q.pending_tasks.size();
  const bool capture = BalanceDue(snap.now_ms);
  if (snap.queue.empty()) {
    if (capture) CaptureForBalancer(snap, nullptr);
    return {.predicted = full, .offered = offered};
  }

  sched::SchedulerConfig config = options_.scheduler;
  if (!full) config.max_predicted_jobs = 0;  // start what fits now; predictions keep
  auto plan = sched::Schedule(snap, config, plugins_, policies_);
  if (!plan.ok()) {
    spdlog::error("scheduling pass failed: {}", plan.status().message());
    return {.predicted = full, .offered = offered};
  }
  if (capture) CaptureForBalancer(snap, &*plan);

  // ---- plan applier
  std::vector<PendingLaunch> launches;
  {
    MutexLock lock(mu_);
    // Capacity now, indexed like the snapshot; a node that left since is no longer ready.
    std::vector<sched::NodeView> now_nodes = snap.nodes;
    for (auto& v : now_nodes) {
      const NodeFree* free =
          cluster_.Schedulable(v.spec.name) ? cluster_.Free(v.spec.name) : nullptr;
      if (free == nullptr) {
        v.state = NodeState::kLost;
        continue;
      }
      const NodeEntry* entry = nodes_.Find(v.spec.name);  // as registered now
      v.spec = entry->rec.spec;
      v.only_user = entry->only_user;
      v.free = *free;
    }
    for (const auto& q : snap.queue) {  // predictions come from the last prediction pass
      JobRecord* j = full ? jobs_.Find(q.id) : nullptr;
      if (j)
        for (int i : j->pending_tasks) {
          TaskRecord* t = JobTable::FindTask(*j, i);
          t->predicted_start_ms = t->predicted_finish_ms = 0;
        }
    }
    for (const auto& p : plan->placements) {
      JobRecord* j = jobs_.Find(p.task.job);
      if (!j) continue;
      if (TaskRecord* t = JobTable::FindTask(*j, p.task.index);
          t && t->state == TaskState::kPending) {
        t->predicted_start_ms = p.predicted_start_ms;
        t->predicted_finish_ms = p.predicted_finish_ms;
      }
    }
    // Reasons from the plan change every pass ("predicted start in 12s"): kept in memory only;
    // the next state change persists whatever reason is current.
    for (const auto& u : plan->unplaced) {
      if (!full && u.why.code() == StatusCode::kUnschedulable) continue;  // keeps its prediction
      JobRecord* j = jobs_.Find(u.job);
      if (j && !IsTerminal(j->state)) j->reason = u.why.message();
    }
    // Re-check against the current state; a gang starts whole or not at all.
    sched::ApplyRules rules;
    rules.job = [&](JobId id) REQUIRES(mu_) {
      sched::JobAdmission a;
      const JobRecord* j = jobs_.Find(id);
      if (!j)
        a.admit = Status::NotFound("job " + std::to_string(id) + " is gone");
      else if (IsTerminal(j->state))
        a.admit = Status::FailedPrecondition("job has ended");
      else if (j->gang_stopping)
        a.admit = Status::FailedPrecondition("gang is stopping");
      if (j) {
        a.request = &j->spec->resources;
        a.whole = j->spec->gang ? static_cast<int>(j->tasks.size()) : 0;
      }
      return a;
    };
    rules.task = [&](const sched::Placement& p) REQUIRES(mu_) {
      const JobRecord* j = jobs_.Find(p.task.job);
      const TaskRecord* t = j ? JobTable::FindTask(*j, p.task.index) : nullptr;
      if (!t || t->state != TaskState::kPending)
        return Status::FailedPrecondition("task is no longer pending");
      if (p.node >= 0 && p.node < static_cast<int>(now_nodes.size()) &&
          !sched::RunsUser(now_nodes[p.node], j->spec->user))
        return Status::FailedPrecondition("node " + p.node_name + " now runs only " +
                                          now_nodes[p.node].only_user + "'s tasks");
      return Status::Ok();
    };
    const sched::AppliedPlan applied = sched::ApplyPlan(now_nodes, *plan, rules);
    LaunchContext launch_ctx{.checkpoint_root = options_.state_dir + "/checkpoints",
                             .master_port_base = options_.master_port_base,
                             .master_port_span = options_.master_port_span,
                             .default_log_limit_mib = options_.default_log_limit_mib,
                             .allow_root = options_.allow_root_jobs,
                             .node = [&](const std::string& name) REQUIRES(mu_) {
                               const NodeEntry* n = nodes_.Find(name);
                               return n ? &n->rec : nullptr;
                             }};
    for (const sched::JobStart& start : applied.accepted) {
      JobRecord* j = jobs_.Find(start.job);
      const std::vector<const sched::Placement*>& ok = start.placements;
      Attempt attempt = 0;
      for (const auto* p : ok)
        attempt = std::max(attempt, JobTable::FindTask(*j, p->task.index)->attempt);
      std::vector<StateStore::Ticket> stored;
      for (const auto* p : ok) {
        TaskRecord* t = JobTable::FindTask(*j, p->task.index);
        t->attempt = std::max(j->spec->gang ? attempt + 1 : t->attempt + 1,
                              epoch_ * kEpochAttemptBase + 1);  // above any earlier epoch's
        t->node = p->node_name;  // before the transition: the launching task holds them
        t->gpus = p->gpus;
        Transition(*j, *t, TaskState::kLaunching);
        t->exit_code = 0;
        t->message.clear();
        t->start_ms = 0;
        t->end_ms = 0;
        t->peak_memory_mib = 0;
        t->cpu_seconds = -1;
        t->progress.clear();
        t->predicted_start_ms = p->predicted_start_ms;
        t->predicted_finish_ms = p->predicted_finish_ms;
        t->confirm_deadline_ms = clock_->MonotonicMs() + options_.launch_confirm_timeout_ms;
        stored.push_back(PersistTask(*j, *t));
      }
      for (size_t k = 0; k < ok.size(); ++k) {
        const sched::Placement* p = ok[k];
        const TaskRecord* t = JobTable::FindTask(*j, p->task.index);
        v1::Launch wire;
        ToProto(BuildLaunch(*j, *t, j->spec->gang ? ok : std::vector{p}, launch_ctx), &wire);
        launches.push_back(
            {p->node_name, nodes_.Find(p->node_name)->channel, std::move(wire), stored[k]});
      }
      j->reason.clear();
      if (!j->pinned_node.empty() && j->counts.pending == 0) {
        j->pinned_node.clear();  // the balancer's pin did its work
        store_->UpdatePin(*j);
      }
      Reconcile(*j);
    }
    // Job-level predictions: earliest predicted start and latest predicted finish of its tasks.
    for (JobId id : jobs_.active()) {
      if (!full) break;
      JobRecord& j = jobs_.Get(id);
      TimeMs s = 0, f = 0;
      for (const auto& t : j.tasks) {
        if (t.Done()) continue;
        if (t.predicted_start_ms > 0 && (s == 0 || t.predicted_start_ms < s))
          s = t.predicted_start_ms;
        f = std::max(f, t.predicted_finish_ms);
      }
      j.predicted_start_ms = s;
      j.predicted_finish_ms = f;
    }
    if (full) RecordPredictions(clock_->NowMs());
    if (full && options_.preemption != "off") Preempt(snap.queue, clock_->NowMs());
  }
  if (launches.empty()) return {.predicted = full, .offered = offered};
  // Each launch goes out only if its own attempt was stored (a failed write fails alone); a gang
  // starts only if every rank's was.
  std::vector<Status> durable;
  std::set<JobId> gang_not_stored;
  for (const auto& l : launches) {
    durable.push_back(store_->Wait(l.stored));
    if (!durable.back().ok()) {
      spdlog::error("launch of {}.{} not persisted: {}", l.launch.job_id(), l.launch.task_index(),
                    durable.back().message());
      gang_not_stored.insert(l.launch.job_id());  // only consulted for gangs
    }
  }
  MutexLock lock(mu_);
  for (size_t k = 0; k < launches.size(); ++k) {
    PendingLaunch& l = launches[k];
    JobRecord* j = jobs_.Find(l.launch.job_id());
    TaskRecord* t = j ? JobTable::FindTask(*j, l.launch.task_index()) : nullptr;
    const NodeEntry* node = nodes_.Find(l.node);
    if (!t || t->state != TaskState::kLaunching || t->attempt != l.launch.attempt() || !node ||
        node->channel != l.channel)
      continue;  // cancelled, stopped or the link changed while committing
    if (!durable[k].ok() || (j->spec->gang && gang_not_stored.count(j->id))) {
      Transition(*j, *t, TaskState::kPending);
      Reconcile(*j);
      continue;
    }
    if (t->stop_requested) {  // cancelled or its gang stopped while committing: never launched
      TaskEndedBadly(*j, *t, /*lost=*/false, -1, "stopped before launch", clock_->NowMs());
      continue;
    }
    if (!j->spec->env.count("MUSTER_CHECKPOINT_DIR")) {
      std::error_code ec;  // the task reports it if it cannot write there
      std::filesystem::create_directories(l.launch.env().at("MUSTER_CHECKPOINT_DIR"), ec);
    }
    v1::CoordinatorMessage m;
    *m.mutable_launch() = std::move(l.launch);
    l.channel->Send(std::move(m));
  }
  return {.predicted = full, .offered = offered, .launched = launches.size()};
}

}  // namespace muster::cluster
