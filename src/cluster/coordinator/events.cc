// Coordinator: agent registration and messages, task outcomes (retries, gangs, cancellation)
// and the failure detector. See coordinator.h for the rules.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cluster/common/convert.h"
#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

// ------------------------------------------------------------------------------ registration

Status Coordinator::RegisterAgent(const v1::Register& reg, const std::string& peer_host,
                                  std::shared_ptr<AgentChannel> channel) {
  const std::string name = reg.node().name();
  if (name.empty()) return Status::InvalidArgument("agent registered without a node name");
  // What an agent says about its node is checked like any client input.
  if (!ValidPrincipalName(name))
    return Status::InvalidArgument("node name '" + name.substr(0, 80) +
                                   "' is not valid: use 1-64 letters, digits, '.', '_' or '-'");
  if (reg.protocol() != kWireProtocol)
    return Status::FailedPrecondition(
        "agent " + name + " speaks wire protocol " + std::to_string(reg.protocol()) +
        " and this coordinator " + std::to_string(kWireProtocol) +
        ": run the same muster version on the agents and the coordinator");
  const v1::NodeSpec& ns = reg.node();
  if (ns.milli_cpus() < 0 || ns.milli_cpus() > SpecLimits::kMilliCpus || ns.memory_mib() < 0 ||
      ns.memory_mib() > SpecLimits::kMemoryMiB || ns.gpus_size() > SpecLimits::kGpus ||
      !std::isfinite(ns.speed()) || ns.speed() < 0 || ns.speed() > 1e6 ||
      ns.address().size() > 256 || reg.running_size() > 100000)
    return Status::InvalidArgument("node " + name + " reports impossible resources");
  for (const auto& g : ns.gpus())
    if (g.memory_mib() < 0 || g.memory_mib() > SpecLimits::kMemoryMiB || g.model().size() > 256)
      return Status::InvalidArgument("node " + name + " reports an impossible GPU");
  std::vector<v1::CoordinatorMessage> kills;
  {
    MutexLock lock(mu_);
    TimeMs now = clock_->NowMs();
    NodeSpec spec = FromProto(reg.node());
    spec.name = name;
    auto registered = nodes_.Register(
        std::move(spec), reg.node().address().empty() ? peer_host : reg.node().address(), channel,
        clock_->MonotonicMs());
    if (!registered.ok()) return registered.status();
    (*registered)->rec.last_seen_ms = (*registered)->last_persisted_ms = now;  // wall times
    (*registered)->containment = reg.containment();
    (*registered)->only_user = reg.only_user();
    NodeEntry& n = **registered;
    store_->UpsertNode(n.rec);

    v1::CoordinatorMessage reply_msg;
    auto* reply = reply_msg.mutable_register_reply();
    reply->set_accepted(true);
    reply->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
    reply->set_lease_ms(options_.heartbeat_timeout_ms);
    reply->set_fence_grace_ms(options_.fence_grace_ms);
    std::set<TaskRef> reported;
    for (const auto& r : reg.running()) {
      JobRecord* j = jobs_.Find(r.job_id());
      TaskRecord* t = j ? JobTable::FindTask(*j, r.task_index()) : nullptr;
      if (!t || t->node != name || t->attempt != r.attempt() || !t->Active()) {
        *reply->add_kill() = r;
        continue;
      }
      reported.insert({j->id, t->index});
      t->confirm_deadline_ms = 0;
      if (t->state == TaskState::kLaunching) {
        Transition(*j, *t, TaskState::kRunning);
        t->start_ms = r.start_ms() > 0 ? r.start_ms() : now;
        PersistTask(*j, *t);
        Reconcile(*j);
      }
      if (t->predicted_finish_ms == 0)
        t->predicted_finish_ms =
            t->start_ms +
            static_cast<TimeMs>(PredictSeconds(*j->spec, DeviceKey(*j->spec, name)) * 1000);
      if (t->stop_requested) {
        v1::CoordinatorMessage k;
        k.mutable_kill()->set_job_id(j->id);
        k.mutable_kill()->set_task_index(t->index);
        k.mutable_kill()->set_attempt(t->attempt);
        k.mutable_kill()->set_grace_ms(options_.kill_grace_ms);
        kills.push_back(std::move(k));
      }
    }
    for (JobId id : jobs_.active()) {
      JobRecord& j = jobs_.Get(id);
      for (int i : j.active_tasks) {
        TaskRecord& t = *JobTable::FindTask(j, i);
        if (t.node == name && !reported.count({id, t.index}))
          t.confirm_deadline_ms = clock_->MonotonicMs() + options_.heartbeat_timeout_ms;
      }
    }
    spdlog::info("agent {} registered ({}, {} running tasks reported, {} to kill)", name,
                 n.rec.spec.Describe(), reported.size(), reply->kill_size());
    channel->Send(std::move(reply_msg));
    for (auto& k : kills) channel->Send(std::move(k));
  }
  Kick();
  return Status::Ok();
}

bool Coordinator::DropAgentLink(const std::string& node) {
  MutexLock lock(mu_);
  NodeEntry* n = nodes_.Find(node);
  if (!n || !n->channel) return false;
  spdlog::warn("agent {}: its credential was revoked; closing its link", node);
  n->channel->Close();
  return true;
}

void Coordinator::OnAgentDisconnected(const std::string& node, const AgentChannel* channel) {
  MutexLock lock(mu_);
  NodeEntry* n = nodes_.Linked(node, channel);
  if (!n) return;
  nodes_.Disconnect(*n);
  spdlog::warn("agent {} disconnected; lost unless it returns within {} ms", node,
               nodes_.LostAfterMs());
}

void Coordinator::OnAgentMessage(const std::string& node, const AgentChannel* channel,
                                 const v1::AgentMessage& msg) {
  std::string log_data;
  JobId log_job = 0;
  int log_task = 0;
  bool log_stderr = false;
  {
    MutexLock lock(mu_);
    NodeEntry* linked = nodes_.Linked(node, channel);
    if (!linked) return;
    NodeEntry& n = *linked;
    TimeMs now = clock_->NowMs();
    n.rec.last_seen_ms = now;
    n.last_contact_ms = clock_->MonotonicMs();
    switch (msg.body_case()) {
      case v1::AgentMessage::kHeartbeat: {
        v1::CoordinatorMessage grant;
        grant.mutable_lease()->set_seq(msg.heartbeat().seq());
        grant.mutable_lease()->set_lease_ms(options_.heartbeat_timeout_ms);
        if (n.channel) n.channel->Send(std::move(grant));
        n.usage = msg.heartbeat().usage();
        RecordUsage(n, n.usage, now);
        MeterGpus(node, n.usage, now);
        if (now - n.last_persisted_ms >= 10000) {
          n.last_persisted_ms = now;
          store_->UpsertNode(n.rec);
        }
        break;
      }
      case v1::AgentMessage::kEvent:
        HandleEvent(node, msg.event());
        break;
      case v1::AgentMessage::kProgress: {
        const auto& p = msg.progress();
        JobRecord* j = jobs_.Find(p.job_id());
        TaskRecord* t = j ? JobTable::FindTask(*j, p.task_index()) : nullptr;
        if (!t || t->attempt != p.attempt() || t->node != node || !t->Active()) break;
        t->progress = p.progress().SerializeAsString();
        if (now - t->progress_persisted_ms >= 1000) {  // the end of the task persists the rest
          t->progress_persisted_ms = now;
          store_->UpdateProgress(j->id, t->index, t->progress);
        }
        break;
      }
      case v1::AgentMessage::kLog: {
        const auto& l = msg.log();
        JobRecord* j = jobs_.Find(l.job_id());
        TaskRecord* t = j ? JobTable::FindTask(*j, l.task_index()) : nullptr;
        if (!t || t->attempt != l.attempt() || t->node != node) break;
        // The agent keeps each stream under the attempt's log limit (plus its marker lines);
        // output beyond that (an agent that does not) is not stored.
        if (t->log_attempt != t->attempt) {
          t->log_attempt = t->attempt;
          t->log_bytes[0] = t->log_bytes[1] = 0;
        }
        const MiB limit_mib =
            j->spec->log_limit_mib > 0 ? j->spec->log_limit_mib : options_.default_log_limit_mib;
        const int64_t allowed = (limit_mib << 20) + (64 << 10);
        int64_t& used = t->log_bytes[l.stderr() ? 1 : 0];
        if (used >= allowed) break;
        log_data = l.data().substr(0, static_cast<size_t>(allowed - used));
        used += static_cast<int64_t>(log_data.size());
        if (used >= allowed) {
          spdlog::warn("job {} task {}: node {} sent output past the log limit; the rest is dropped",
                       j->id, t->index, node);
          log_data += "\n[muster: output past this attempt's log limit was dropped]\n";
        }
        log_job = j->id;
        log_task = t->index;
        log_stderr = l.stderr();
        break;
      }
      case v1::AgentMessage::kRegister:
        spdlog::warn("agent {} sent a second Register on one stream; ignored", node);
        break;
      default:
        break;
    }
  }
  if (!log_data.empty()) {
    Status s = logs_.Append(log_job, log_task, log_stderr, log_data);
    if (!s.ok()) spdlog::error("{}", s.message());
  }
}

// ------------------------------------------------------------------------------ task outcomes

void Coordinator::HandleEvent(const std::string& node, const v1::TaskEvent& ev) {
  JobRecord* j = jobs_.Find(ev.job_id());
  TaskRecord* t = j ? JobTable::FindTask(*j, ev.task_index()) : nullptr;
  if (!t || t->attempt != ev.attempt() || t->node != node) {
    spdlog::debug("stale event {}.{} attempt {} from {} ignored", ev.job_id(), ev.task_index(),
                  ev.attempt(), node);
    // The end of an attempt the coordinator had given up (its node was lost, say, and the task
    // runs again elsewhere) goes into the job's history once, and changes nothing else.
    const v1::TaskState st = ev.state();
    if (t && ev.attempt() < t->attempt && ev.attempt() > 0 &&
        (st == v1::TASK_STATE_SUCCEEDED || st == v1::TASK_STATE_FAILED ||
         st == v1::TASK_STATE_LOST) &&
        late_reports_.insert({ev.job_id(), ev.task_index(), ev.attempt()}).second) {
      if (late_reports_.size() > 100000) late_reports_.erase(late_reports_.begin());
      AddHistory(*j, "late report from " + node + ": task " + std::to_string(ev.task_index()) +
                         " attempt " + std::to_string(ev.attempt()) + " " + StateName(st) +
                         (ev.exit_code() != 0 ? " (exit " + std::to_string(ev.exit_code()) + ")"
                                              : "") +
                         " after it had been given up; attempt " + std::to_string(t->attempt) +
                         " is the task's, this report changes nothing");
    }
    return;
  }
  if (!t->Active()) return;  // a repeated report of an outcome already recorded
  const v1::TaskState state = ev.state();
  if (state != v1::TASK_STATE_RUNNING && state != v1::TASK_STATE_SUCCEEDED &&
      state != v1::TASK_STATE_FAILED && state != v1::TASK_STATE_LOST &&
      state != v1::TASK_STATE_TIMEOUT && state != v1::TASK_STATE_OOM) {
    // Pending, launching, cancelled are not an agent's to report; or a number unknown here.
    spdlog::warn("event with state {} ({}) for {}.{} from {} ignored", static_cast<int>(state),
                 StateName(state), ev.job_id(), ev.task_index(), node);
    return;
  }
  t->confirm_deadline_ms = 0;
  TimeMs now = clock_->NowMs();
  TimeMs when = ev.time_ms() > 0 ? ev.time_ms() : now;
  if (state != v1::TASK_STATE_RUNNING) {  // an end: what its cgroup measured
    t->peak_memory_mib = static_cast<int32_t>((ev.peak_memory_bytes() + (1 << 20) - 1) >> 20);
    t->cpu_seconds = ev.has_cpu_seconds() ? static_cast<float>(ev.cpu_seconds()) : -1;
  }
  if (state == v1::TASK_STATE_RUNNING) {
    if (t->state != TaskState::kLaunching) return;
    if (!ev.not_enforced().empty())
      AddHistory(*j, "task " + std::to_string(t->index) + " attempt " +
                         std::to_string(t->attempt) + " on " + node +
                         ": limits not enforced: " + ev.not_enforced());
    Transition(*j, *t, TaskState::kRunning);
    t->start_ms = when;
    t->predicted_finish_ms =
        when + static_cast<TimeMs>(PredictSeconds(*j->spec, DeviceKey(*j->spec, node)) * 1000);
    PersistTask(*j, *t);
    Reconcile(*j);
  } else if (state == v1::TASK_STATE_SUCCEEDED && ev.stopped_on_request() &&
             (t->migrating || (t->stop_requested && !j->spec->gang))) {
    // Saved and left when a migration asked it to: it resumes at the target, work not done. Or
    // left when a cancel (of it, of its job, or a preemption its job answers with cancel) asked
    // it to: cancelled, however it exited.
    TaskEndedBadly(*j, *t, /*lost=*/false, 0, ev.message(), when);
  } else if (state == v1::TASK_STATE_SUCCEEDED) {
    t->exit_code = ev.exit_code();
    t->message = ev.message();
    TaskSucceeded(*j, *t, when);
  } else if (state == v1::TASK_STATE_TIMEOUT) {
    TaskTimedOut(*j, *t, ev.exit_code(), ev.message(), when);
  } else if (state == v1::TASK_STATE_OOM) {
    TaskEndedBadly(*j, *t, false, ev.exit_code(), ev.message(), when, TaskState::kOom);
  } else {  // failed or lost
    const bool lost = state == v1::TASK_STATE_LOST;
    std::string msg = ev.message();
    if (msg.empty()) msg = lost ? "lost by its agent" : "exit code " + std::to_string(ev.exit_code());
    TaskEndedBadly(*j, *t, lost, ev.exit_code(), msg, when);
  }
}

void Coordinator::TaskSucceeded(JobRecord& j, TaskRecord& t, TimeMs when) {
  if (t.start_ms == 0) t.start_ms = when;
  t.end_ms = when;  // before the transition, which writes the attempt's accounting row
  Transition(j, t, TaskState::kSucceeded);
  t.stop_requested = false;
  t.migrating = false;  // it finished before the balancer's stop took effect
  ScoreAndObserve(j, t, /*score=*/j.counts.succeeded == 1);
  PersistTask(j, t);
  if (j.gang_stopping) MaybeFinishGangStop(j);
  Reconcile(j);
  Kick();
}

void Coordinator::TaskEndedBadly(JobRecord& j, TaskRecord& t, bool lost, int exit_code,
                                 const std::string& message, TimeMs when, TaskState failed) {
  std::string preempt_note;  // a preemption cancels it (erased by Transition)
  if (auto it = preempt_cancels_.find(TaskRef{j.id, t.index}); it != preempt_cancels_.end())
    preempt_note = it->second;
  t.exit_code = exit_code;
  t.message = message;
  t.end_ms = when;
  t.confirm_deadline_ms = 0;
  const JobSpec& s = *j.spec;
  if (j.state == JobState::kCancelled) {
    Transition(j, t, TaskState::kCancelled);
    t.stop_requested = false;
    t.migrating = false;
  } else if (t.migrating) {
    // Stopped by the balancer (checkpointed on SIGTERM): a new attempt on the pinned node, not a
    // failure, a retry or a loss.
    Transition(j, t, TaskState::kPending);
    t.stop_requested = false;
    t.migrating = false;
    t.message = j.migrate_reason;
    j.reason = j.migrate_reason;
    if (std::none_of(j.tasks.begin(), j.tasks.end(),
                     [](const TaskRecord& o) { return o.migrating; })) {
      j.migrate_reason.clear();
      store_->UpdatePin(j);
    }
  } else if (s.gang) {
    Transition(j, t, lost ? TaskState::kLost : failed);
    StopGang(j, t, std::string(lost ? "lost: " : "failed: ") + message, lost, false);
    t.stop_requested = false;
    PersistTask(j, t);
    MaybeFinishGangStop(j);
    Reconcile(j);
    Kick();
    return;
  } else if (t.stop_requested) {
    Transition(j, t, TaskState::kCancelled);
    t.stop_requested = false;
    if (!preempt_note.empty())
      t.message = preempt_note + "; " + message;  // "preempted by job 4 (...); killed by ..."
  } else if (lost && t.lost_requeues < options_.max_lost_requeues) {
    ++t.lost_requeues;
    Transition(j, t, TaskState::kPending);
    j.reason = "requeued: " + message;
  } else if (!lost && t.retries < s.max_retries) {
    ++t.retries;
    Transition(j, t, TaskState::kPending);
    j.reason = "retrying after attempt " + std::to_string(t.attempt) + " failed: " + message;
  } else {
    Transition(j, t, failed);
  }
  PersistTask(j, t);
  Reconcile(j);
  Kick();
}

void Coordinator::TaskTimedOut(JobRecord& j, TaskRecord& t, int exit_code,
                                const std::string& message, TimeMs when) {
  const JobSpec& s = *j.spec;
  // Cancelled or being migrated meanwhile: that stop is what counts.
  if (j.state == JobState::kCancelled || t.migrating || (t.stop_requested && !j.gang_stopping))
    return TaskEndedBadly(j, t, /*lost=*/false, exit_code, message, when);
  t.exit_code = exit_code;
  t.message = message;
  t.end_ms = when;
  t.confirm_deadline_ms = 0;
  AddHistory(j, "task " + std::to_string(t.index) + " attempt " + std::to_string(t.attempt) +
                    " on " + t.node + ": " + message);
  if (s.gang) {
    Transition(j, t, TaskState::kTimeout);
    StopGang(j, t, "timed out: " + message, false, true);
    t.stop_requested = false;
    PersistTask(j, t);
    MaybeFinishGangStop(j);
  } else if (s.requeue_on_timeout) {
    // Resumes from its checkpoint: not a failure, no retry used.
    Transition(j, t, TaskState::kPending);
    j.reason = "requeued after reaching its time limit; resumes from its checkpoint";
    PersistTask(j, t);
  } else {
    Transition(j, t, TaskState::kTimeout);
    PersistTask(j, t);
  }
  Reconcile(j);
  Kick();
}

void Coordinator::StopGang(JobRecord& j, const TaskRecord& t, const std::string& what, bool lost,
                           bool timeout) {
  if (j.gang_stopping) return;  // already stopping: the first rank's end says why
  j.gang_stopping = true;
  j.gang_stop_was_loss = lost;
  j.gang_stop_was_timeout = timeout;
  j.reason = "rank " + std::to_string(t.index) + " " + what;
  for (auto& other : j.tasks) {
    if (&other == &t || !other.Active() || other.stop_requested) continue;
    SendKill(other.node, j.id, other, options_.kill_grace_ms, "gang");
    other.stop_requested = true;
  }
}

void Coordinator::MaybeFinishGangStop(JobRecord& j) {
  for (const auto& t : j.tasks)
    if (t.Active()) return;
  j.gang_stopping = false;
  const JobSpec& s = *j.spec;
  TimeMs now = clock_->NowMs();
  // The gang's retry counters are kept equal on every rank; rank 0's stand for the gang.
  int retries = j.tasks.empty() ? 0 : j.tasks[0].retries;
  int lost_requeues = j.tasks.empty() ? 0 : j.tasks[0].lost_requeues;
  bool cancelled = j.state == JobState::kCancelled;
  const bool timeout = j.gang_stop_was_timeout;
  j.gang_stop_was_timeout = false;
  // A gang that timed out starts again (from its checkpoint) only with requeue_on_timeout, and
  // that uses no retry.
  bool retry = !cancelled && (timeout                ? s.requeue_on_timeout
                              : j.gang_stop_was_loss ? lost_requeues < options_.max_lost_requeues
                                                     : retries < s.max_retries);
  if (retry && !timeout) {
    if (j.gang_stop_was_loss)
      ++lost_requeues;
    else
      ++retries;
  }
  std::vector<bool> was_failed;
  for (const auto& t : j.tasks)
    was_failed.push_back(t.state == TaskState::kFailed || t.state == TaskState::kOom);
  const GangOutcome outcome = cancelled ? GangOutcome::kCancel
                              : retry   ? GangOutcome::kRetry
                              : timeout ? GangOutcome::kTimeout
                                        : GangOutcome::kFail;
  (void)jobs_.FinishGangStop(j, outcome);  // refused only if a rank is active: checked above
  for (size_t i = 0; i < j.tasks.size(); ++i) {
    TaskRecord& t = j.tasks[i];
    t.stop_requested = false;
    if (retry) {  // the whole gang runs again, finished ranks included
      t.retries = retries;
      t.lost_requeues = lost_requeues;
    } else if (outcome == GangOutcome::kFail && !was_failed[i] && t.message.empty()) {
      t.message = "stopped with its gang: " + j.reason;
    }
    if (t.end_ms == 0 && !retry) t.end_ms = now;
    PersistTask(j, t);
  }
  if (retry) j.reason = (timeout ? "gang requeued after " : "gang retrying after ") + j.reason;
}

// ------------------------------------------------------------------------------ failure detector

void Coordinator::MarkNodeLost(NodeEntry& n, const std::string& why) {
  const std::string name = n.rec.spec.name;
  spdlog::warn("node {} lost: {}", name, why);
  nodes_.MarkLost(n);
  TimeMs now = clock_->NowMs();
  std::vector<JobId> ids(jobs_.active().begin(), jobs_.active().end());
  for (JobId id : ids) {
    JobRecord& j = jobs_.Get(id);
    const std::vector<int> active(j.active_tasks.begin(), j.active_tasks.end());  // changes below
    for (int i : active) {
      TaskRecord& t = *JobTable::FindTask(j, i);
      if (t.Active() && t.node == name)
        TaskEndedBadly(j, t, /*lost=*/true, -1, "node " + name + " lost (" + why + ")", now);
    }
  }
}

void Coordinator::CheckLiveness() {
  TimeMs now = clock_->NowMs();
  const TimeMs mono = clock_->MonotonicMs();
  if (DurationMs gap = nodes_.ForgiveGap(mono); gap > 0)
    spdlog::warn("liveness checks paused for {} ms (coordinator stopped or starved); every node "
                 "gets a fresh lease from now",
                 gap);
  for (const auto& [name, why] : nodes_.Overdue(mono)) MarkNodeLost(*nodes_.Find(name), why);
  std::vector<JobId> ids(jobs_.holding().begin(), jobs_.holding().end());
  std::vector<int> overdue;
  for (JobId id : ids) {
    JobRecord& j = jobs_.Get(id);
    overdue.clear();
    for (int i : j.active_tasks) {
      const TaskRecord& t = *JobTable::FindTask(j, i);
      if (t.confirm_deadline_ms > 0 && mono > t.confirm_deadline_ms) overdue.push_back(i);
    }
    for (int i : overdue) {  // (ending a task changes active_tasks: not while iterating it)
      TaskRecord& t = *JobTable::FindTask(j, i);
      if (t.state == TaskState::kLaunching && !t.stop_requested) {
        // A hung exec or working directory on the node: the attempt must not start later.
        SendKill(t.node, j.id, t, 0, "lost");
        TaskEndedBadly(j, t, /*lost=*/true, -1,
                       "the agent on " + t.node + " did not confirm the launch within " +
                           std::to_string(options_.launch_confirm_timeout_ms / 1000) + " s",
                       now);
        continue;
      }
      TaskEndedBadly(j, t, /*lost=*/true, -1,
                     "not reported by the agent on " + t.node + " after it reconnected", now);
    }
  }
}

}  // namespace muster::cluster
