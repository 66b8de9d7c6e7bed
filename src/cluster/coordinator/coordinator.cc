// Coordinator: opening and recovery, the loop, submission, cancellation and shared state helpers.
// Task outcomes and the failure detector live in events.cc, the scheduling pass and plan applier
// in scheduling.cc, read-only queries in queries.cc.
#include "cluster/coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <unordered_set>
#include <filesystem>

#include "cluster/common/convert.h"
#include "cluster/coordinator/feasibility.h"
#include "cluster/store/open_store.h"
#include "core/capacity.h"

namespace muster::cluster {

namespace fs = std::filesystem;

namespace {

// Creates the state dir with logs/ and checkpoints/ (idempotent). Logs are the coordinator's
// alone (it serves them to their owners); checkpoints/ may be searched by every user, whose jobs'
// directories inside it belong to them (the agent gives them away).
Status PrepareStateDir(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("no state dir given");
  std::error_code ec;
  for (const char* sub : {"", "/logs", "/checkpoints"}) {
    fs::create_directories(dir + sub, ec);
    if (ec) return Status::Unavailable("cannot create " + dir + sub + ": " + ec.message());
  }
  using P = fs::perms;
  fs::permissions(dir + "/logs", P::owner_all, ec);
  fs::permissions(dir + "/checkpoints", P::owner_all | P::group_exec | P::others_exec, ec);
  return Status::Ok();
}

}  // namespace

Status CheckPreemptionOptions(const CoordinatorOptions& o) {
  const std::string& p = o.preemption;
  const std::string& q = o.scheduler.queue_policy;
  if (p != "off" && p != "priority" && p != "srtf" && p != "las")
    return Status::InvalidArgument("preemption '" + p + "': choose from off, priority, srtf, las");
  const std::string needs = p == "srtf" ? "sjf" : p == "off" ? q : p;
  if (q != needs)
    return Status::InvalidArgument("preemption " + p + " needs the " + needs +
                                   " queue policy, not " + q);
  for (size_t i = 0; i < o.las_thresholds_gpu_s.size(); ++i)
    if (!(o.las_thresholds_gpu_s[i] > 0) || !std::isfinite(o.las_thresholds_gpu_s[i]) ||
        (i > 0 && o.las_thresholds_gpu_s[i] <= o.las_thresholds_gpu_s[i - 1]))
      return Status::InvalidArgument("las thresholds must be ascending GPU-seconds above 0");
  if (auto s = sched::Scheduler::Create(o.scheduler, sched::PluginRegistry::Default(),
                                        sched::PreemptivePolicies(o.las_thresholds_gpu_s));
      !s.ok())
    return s.status();
  return Status::Ok();
}

Result<std::unique_ptr<Coordinator>> Coordinator::Open(CoordinatorOptions options,
                                                       const Clock* clock) {
  if (Status s = PrepareStateDir(options.state_dir); !s.ok()) return s;
  const std::string path = options.state_dir + "/" + kStoreFileName;
  auto store = OpenStateStore(options.store_url, path, options.store);
  if (!store.ok()) return store.status();
  const std::string named = options.store_url.empty() ? path : RedactStoreUrl(options.store_url);
  auto c = Open(std::move(options), clock, std::move(store).value());
  if (!c.ok() && c.status().code() == StatusCode::kInternal)  // unreadable: say which store
    return Status::Internal("cannot load the state store " + named + ": " + c.status().message());
  return c;
}

Result<std::unique_ptr<Coordinator>> Coordinator::Open(CoordinatorOptions options,
                                                       const Clock* clock,
                                                       std::unique_ptr<StateStore> store) {
  if (Status s = CheckPreemptionOptions(options); !s.ok()) return s;
  if (Status s = PrepareStateDir(options.state_dir); !s.ok()) return s;
  auto balancer = balance::Balancer::Create(options.balancer);
  if (!balancer.ok()) return balancer.status();
  auto contents = store->LoadAll();
  if (!contents.ok()) return contents.status();
  std::unique_ptr<Coordinator> c(new Coordinator(std::move(options), clock, std::move(store)));
  if (c->options_.balancer.mode != balance::BalancerMode::kOff)
    c->balancer_.emplace(std::move(balancer).value());
  // Fair share: the usage of the last ten half-lives, from the accounting rows.
  const DurationMs h = c->options_.fairshare_half_life_ms;
  auto past = h > 0 ? c->store_->LoadAccounting(std::max<TimeMs>(0, clock->NowMs() - 10 * h), "", 0)
                    : Result<std::vector<AccountingRow>>(std::vector<AccountingRow>{});
  if (!past.ok()) return past.status();
  {
    MutexLock lock(c->mu_);
    c->Recover(std::move(contents).value());
    c->LoadPastUsage(*past);
  }
  // srtf and las order by what the unfinished jobs ran so far: their attempts' rows.
  if (c->options_.preemption == "srtf" || c->options_.scheduler.queue_policy == "las") {
    TimeMs oldest = -1;
    {
      MutexLock lock(c->mu_);
      for (JobId id : c->jobs_.active()) {
        const TimeMs s = c->jobs_.Get(id).submit_ms;
        oldest = oldest < 0 ? s : std::min(oldest, s);
      }
    }
    if (oldest >= 0) {
      auto rows = c->store_->LoadAccounting(oldest, "", 0);
      if (!rows.ok()) return rows.status();
      MutexLock lock(c->mu_);
      c->LoadAttained(*rows);
    }
  }
  return c;
}

Coordinator::Coordinator(CoordinatorOptions options, const Clock* clock,
                         std::unique_ptr<StateStore> store)
    : options_(std::move(options)),
      clock_(clock),
      started_ms_(clock->MonotonicMs()),
      opened_wall_ms_(clock->NowMs()),
      store_(std::move(store)),
      logs_(options_.state_dir + "/logs"),
      auth_(options_.auth, store_.get(), clock),
      trend_(options_.balance_trend) {}

Coordinator::~Coordinator() {
  Stop();
  if (Status s = store_->Flush(); !s.ok()) spdlog::error("state store flush: {}", s.message());
}

void Coordinator::Recover(StoreContents contents) {
  auth_.Load(contents.users);
  auth_.LoadJoinTokens(contents.join_tokens);
  for (auto& l : contents.limits) limits_[{l.kind, l.name}] = std::move(l);
  epoch_ = contents.epoch;
  // A restored state (backup.h): ids above any an earlier epoch handed out after the backup.
  jobs_.ReserveUpTo(std::max(contents.next_job_id, epoch_ * kEpochJobIdBase + 1));
  if (epoch_ > 0)
    spdlog::info("restored state, epoch {}: new job ids from {}, new attempts from {}", epoch_,
                 epoch_ * kEpochJobIdBase + 1, epoch_ * kEpochAttemptBase + 1);
  for (auto& n : contents.nodes) nodes_.Recover(std::move(n));
  int adopted_wait = 0;
  // Succeeded runs, learnt after the loop in the order they ended (the calibrator weighs the
  // newest most).
  std::vector<std::tuple<TimeMs, JobId, int>> succeeded;
  for (auto& j : contents.jobs) {
    JobId id = j.id;
    JobRecord& job = jobs_.Load(std::move(j));
    bool holds = false;
    bool gang_interrupted = false;
    for (auto& t : job.tasks) {
      if (t.Active()) {
        holds = true;
        ++adopted_wait;
        if (IsTerminal(job.state)) t.stop_requested = true;
      }
      if (job.spec->gang && !IsTerminal(job.state) &&
          (t.state == TaskState::kFailed || t.state == TaskState::kOom ||
           t.state == TaskState::kLost))
        gang_interrupted = true;
      if (t.state == TaskState::kSucceeded && t.start_ms > 0 && t.end_ms >= t.start_ms)
        succeeded.emplace_back(t.end_ms, id, static_cast<int>(&t - job.tasks.data()));
    }
    if (!IsTerminal(job.state) || holds) jobs_.SetActive(id, true);
    if (!job.pinned_node.empty()) pinned_.insert(id);
    // A balancer migration caught in progress: its running tasks are still to be stopped (the
    // Kill is re-sent when their agent registers) and requeued without a retry.
    if (IsTerminal(job.state)) {
      job.pinned_node.clear();
      job.migrate_reason.clear();
    } else if (!job.migrate_reason.empty()) {
      bool any = false;
      for (auto& t : job.tasks)
        if (t.Active() && t.node != job.pinned_node) {
          t.migrating = true;
          t.stop_requested = true;
          any = true;
        }
      if (!any) job.migrate_reason.clear();
    }
    if (gang_interrupted) {
      job.gang_stopping = true;
      for (auto& t : job.tasks)
        if (t.Active()) t.stop_requested = true;
      MaybeFinishGangStop(job);
      Reconcile(job);
    }
  }
  std::sort(succeeded.begin(), succeeded.end());
  std::unordered_set<JobId> scored;
  for (const auto& [end_ms, id, position] : succeeded) {
    const JobRecord& job = jobs_.Get(id);
    ScoreAndObserve(job, job.tasks[static_cast<size_t>(position)], scored.insert(id).second);
  }
  spdlog::info("state loaded from {}: {} jobs ({} active), {} nodes, {} tasks awaiting their agents",
               options_.store_url.empty() ? std::string(kStoreFileName)
                                          : RedactStoreUrl(options_.store_url),
               jobs_.size(), jobs_.active().size(), nodes_.all().size(), adopted_wait);
}

// ------------------------------------------------------------------------------ loop

void Coordinator::Start() {
  MutexLock lock(loop_mu_);
  if (loop_.joinable()) return;
  stopping_ = false;
  loop_ = std::thread([this] { Loop(); });
}

void Coordinator::Stop() {
  {
    MutexLock lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
}

void Coordinator::Kick() {
  {
    MutexLock lock(loop_mu_);
    kicked_ = true;
  }
  loop_cv_.notify_one();
}

void Coordinator::Loop() {
  bool started = false;
  for (;;) {
    // A short gap after a pass that started tasks lets the burst of ends and submissions that
    // follows share the next pass; after one that started nothing the next kick runs at once
    // (such passes cost what changed, and a lone submission should not wait out a gap).
    if (started) std::this_thread::sleep_for(std::chrono::milliseconds(options_.min_pass_gap_ms));
    {
      MutexLock lock(loop_mu_);
      loop_cv_.wait_for(lock, std::chrono::milliseconds(options_.schedule_period_ms),
                        [&]() REQUIRES(loop_mu_) { return stopping_ || kicked_; });
      if (stopping_) return;
      kicked_ = false;
    }
    started = Tick();
  }
}

bool Coordinator::Tick() {
  const bool writable = CheckStore();
  {
    MutexLock lock(mu_);
    CheckLiveness();
    ExpirePins(clock_->NowMs());
  }
  if (!writable) return false;  // nothing starts, moves or goes while the store cannot record it
  const auto pass_start = std::chrono::steady_clock::now();
  const PassOutcome pass = SchedulingPass();
  const bool predicted = pass.predicted;
  const auto pass_end = std::chrono::steady_clock::now();
  pass_seconds_.Observe(std::chrono::duration<double>(pass_end - pass_start).count());
  if (predicted) {  // a dear one holds back the next that only new jobs would ask for
    constexpr size_t kDearPredictionTasks = 1000;
    const auto took = pass_end - pass_start;
    const bool dear = pass.offered > kDearPredictionTasks && took > std::chrono::milliseconds(1);
    MutexLock lock(mu_);
    next_new_job_prediction_ = dear ? pass_end + 3 * took : pass_end;
  }
  BalancePass();
  const TimeMs now = clock_->NowMs();
  if (options_.retention_ms > 0 && now - last_gc_ms_ >= options_.gc_period_ms) {
    last_gc_ms_ = now;
    auto gc = CollectGarbage(options_.retention_ms, /*dry_run=*/false);
    if (!gc.ok())
      spdlog::error("removing finished jobs: {}", gc.status().message());
    else if (gc->jobs > 0)
      spdlog::info("removed {} finished jobs ({} tasks, {} bytes of logs and checkpoints) older "
                   "than the retention of {} s",
                   gc->jobs, gc->tasks, gc->bytes, options_.retention_ms / 1000);
  }
  return pass.launched > 0;
}

// ------------------------------------------------------------------------------ the store

Status Coordinator::Writable() const {
  MutexLock lock(mu_);
  return read_only_;
}

bool Coordinator::CheckStore() {
  const uint64_t failed = store_->FailedWrites();
  {
    MutexLock lock(mu_);
    if (failed != seen_failed_writes_) {
      seen_failed_writes_ = failed;
      if (read_only_.ok()) {
        const Status why = store_->LastWriteError();
        read_only_ = Status::Unavailable(
            "the coordinator is read-only: its state store cannot write (" + why.message() +
            "); it serves reads, and takes changes again by itself once writes succeed");
        spdlog::error("state store writes fail ({}): read-only until they succeed again",
                      why.message());
      }
    }
    if (read_only_.ok()) return true;
  }
  // A probe that is worth keeping: the audit line saying so.
  const TimeMs now = clock_->NowMs();
  if (!store_->Wait(store_->AppendAudit({now, "coordinator", "admin", "itself", "", "store",
                                         "writes succeed again", "ok"}))
           .ok())
    return false;
  // Everything again, once: whatever failed to reach the store meanwhile is written now.
  std::vector<StateStore::Ticket> tickets;
  {
    MutexLock lock(mu_);
    for (const auto& [id, j] : jobs_.all()) {
      tickets.push_back(PersistJob(j));
      for (const auto& t : j.tasks) tickets.push_back(PersistTask(j, t));
      if (!j.pinned_node.empty() || !j.migrate_reason.empty()) tickets.push_back(store_->UpdatePin(j));
      if (j.held_ms > 0) tickets.push_back(store_->UpdateHold(j));
    }
    for (const auto& [name, n] : nodes_.all()) {
      tickets.push_back(store_->UpsertNode(n.rec));
      if (n.rec.Drained()) tickets.push_back(store_->UpdateDrain(n.rec));
    }
  }
  for (auto t : tickets)
    if (!store_->Wait(t).ok()) return false;  // still failing: stay read-only
  MutexLock lock(mu_);
  if (store_->FailedWrites() != seen_failed_writes_) {  // something failed meanwhile
    seen_failed_writes_ = store_->FailedWrites();
    return false;
  }
  spdlog::info("state store writes succeed again ({} rows rewritten): taking changes again",
               tickets.size());
  read_only_ = Status::Ok();
  return true;
}

// ------------------------------------------------------------------------------ helpers

void Coordinator::Transition(JobRecord& j, TaskRecord& t, TaskState to) {
  const bool was_active = t.Active();
  // A refused (illegal) change is logged and counted there.
  if (!jobs_.SetTaskState(j, t, to).ok() || !was_active || t.Active()) return;
  // The attempt has stopped holding its resources: its accounting row.
  const TimeMs end = t.start_ms > 0 && t.end_ms >= t.start_ms ? t.end_ms : clock_->NowMs();
  if (t.start_ms > 0 && end > t.start_ms) {  // the service it received (preemption.cc)
    j.attained_gpu_ms += static_cast<int64_t>(t.gpus.size()) * (end - t.start_ms);
    if (to == TaskState::kPending && j.spec->checkpointable) j.resumable_ms += end - t.start_ms;
  }
  store_->InsertAccounting(
      AttemptRow(j, t, to == TaskState::kPending ? "requeued" : TaskStateName(to), end));
  meters_.erase(TaskRef{j.id, t.index});
  preempt_cancels_.erase(TaskRef{j.id, t.index});
  AddPastUsage(*j.spec, t.start_ms, end);
}

int Coordinator::IllegalTransitions() const {
  MutexLock lock(mu_);
  return jobs_.illegal_transitions();
}

Status Coordinator::CheckInvariants() const {
  MutexLock lock(mu_);
  // Recompute every node's free capacity from the active tasks and compare.
  std::map<std::string, NodeFree> want;
  for (const auto& [name, n] : nodes_.all()) want[name] = NodeFree::AllFree(n.rec.spec);
  for (JobId id : jobs_.active()) {
    const JobRecord& j = jobs_.Get(id);
    for (const auto& t : j.tasks) {
      if (!t.Active()) continue;
      auto it = want.find(t.node);
      if (it != want.end()) Take(it->second, j.spec->resources, t.gpus);
    }
  }
  for (const auto& [id, j] : jobs_.all()) {
    JobRecord copy = j;
    JobTable::Recount(copy);
    if (!(copy.counts == j.counts) || copy.pending_tasks != j.pending_tasks ||
        copy.active_tasks != j.active_tasks)
      return Status::Internal("job " + std::to_string(id) + ": task counts out of date");
  }
  for (const auto& [name, f] : want) {
    const NodeFree* got = cluster_.Free(name);
    if (!got) return Status::Internal("cluster state does not know node " + name);
    if (got->milli_cpus != f.milli_cpus || got->memory_mib != f.memory_mib ||
        got->gpu_free != f.gpu_free)
      return Status::Internal("cluster state of node " + name + " holds " +
                              std::to_string(got->milli_cpus) + " mCPU free, recomputed " +
                              std::to_string(f.milli_cpus));
  }
  return Status::Ok();
}

std::vector<ChangeResult> Coordinator::ChangeJobs(
    const std::vector<JobId>& ids,
    const std::function<Result<StateStore::Ticket>(JobRecord&)>& change) {
  std::vector<ChangeResult> results(ids.size());
  std::vector<std::pair<ChangeResult*, StateStore::Ticket>> stored;
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      const JobId id = ids[i];
      ChangeResult& r = results[i];
      r.job_id = id;
      JobRecord* j = jobs_.Find(id);
      if (!j) {
        r.error = "job " + std::to_string(id) + " not found";
      } else if (IsTerminal(j->state)) {
        r.error = "job " + std::to_string(id) + " already " + JobStateName(j->state);
      } else if (!read_only_.ok()) {
        r.error = read_only_.message();
      } else if (auto ticket = change(*j); !ticket.ok()) {
        r.error = ticket.status().message();
      } else {
        stored.emplace_back(&r, *ticket);
      }
    }
  }
  Kick();
  for (auto& [r, ticket] : stored) {
    if (Status s = store_->Wait(ticket); s.ok())
      r->ok = true;
    else
      r->error = "job " + std::to_string(r->job_id) + ": the state store failed: " + s.message();
  }
  return results;
}

std::vector<ChangeResult> Coordinator::HoldJobs(const std::vector<JobId>& ids, bool release,
                                                const std::string& by) {
  return ChangeJobs(ids, [&](JobRecord& j) REQUIRES(mu_) -> Result<StateStore::Ticket> {
    if (release && j.held_ms == 0)
      return Status::FailedPrecondition("job " + std::to_string(j.id) + " is not held");
    if (release) {
      j.held_ms = 0;
      j.held_by.clear();
      j.reason.clear();
    } else if (j.held_ms == 0) {
      j.held_ms = clock_->NowMs();
      j.held_by = by;
    }
    AddHistory(j, std::string(release ? "released" : "held") + " by " + by);
    jobs_.Unpark(j.id);  // the next pass looks at it again
    return store_->UpdateHold(j);
  });
}

std::vector<ChangeResult> Coordinator::RequeueJobs(const std::vector<JobId>& ids,
                                                   const std::string& by) {
  return ChangeJobs(ids, [&](JobRecord& j) REQUIRES(mu_) -> Result<StateStore::Ticket> {
    const std::string what = "job " + std::to_string(j.id);
    if (j.gang_stopping || !j.migrate_reason.empty())
      return Status::FailedPrecondition(what + " is stopping already");
    if (j.active_tasks.empty())
      return Status::FailedPrecondition(what + " has no running task to requeue");
    j.migrate_reason = "requeued by " + by;
    for (auto& t : j.tasks)
      if (t.Active() && !t.stop_requested) StopToMove(j, t, "requeue");
    AddHistory(j, j.migrate_reason);
    return store_->UpdatePin(j);
  });
}

void Coordinator::StopToMove(JobRecord& j, TaskRecord& t, const std::string& reason) {
  SendKill(t.node, j.id, t, options_.kill_grace_ms, reason);
  t.stop_requested = true;
  t.migrating = true;  // ends as pending, a new attempt: not a failure, a retry or a loss
}

StateStore::Ticket Coordinator::PersistTask(const JobRecord& j, const TaskRecord& t) {
  return store_->UpdateTask(j.id, t);
}

StateStore::Ticket Coordinator::PersistJob(const JobRecord& j) {
  return store_->UpdateJob(j);
}

std::string Coordinator::DeviceKey(const JobSpec& spec, const std::string& node) const {
  const NodeEntry* n = nodes_.Find(node);
  if (spec.resources.gpus == 0 || !n || n->rec.spec.gpus.empty()) return "cpu";
  return n->rec.spec.gpus[0].model;
}

std::string Coordinator::LikelyDevice(const JobSpec& spec) const {
  if (spec.resources.gpus == 0) return "cpu";
  for (const auto& [name, n] : nodes_.all())
    if (cluster_.Schedulable(name) && n.rec.spec.CouldEverFit(spec.resources))
      return DeviceKey(spec, name);
  return "";
}

model::PredictionQuery Coordinator::QueryOf(const JobSpec& spec, const std::string& device) const {
  return {.job_class = spec.job_class.empty() ? spec.name : spec.job_class,
          .device_model = device,
          .work = spec.est_work,
          .user = spec.user,
          .gpus = spec.resources.gpus,
          .estimate_s = spec.est_time_s,
          .default_s = options_.default_task_seconds};
}

model::Observation Coordinator::RunOf(const JobSpec& spec, const TaskRecord& t) const {
  return {.job_class = spec.job_class.empty() ? spec.name : spec.job_class,
          .device_model = DeviceKey(spec, t.node),
          .work = spec.est_work,
          .seconds = static_cast<double>(t.end_ms - t.start_ms) / 1000.0,
          .user = spec.user,
          .gpus = spec.resources.gpus};
}

void Coordinator::ScoreAndObserve(const JobRecord& j, const TaskRecord& t, bool score) {
  const model::Observation run = RunOf(*j.spec, t);
  // How the interval predicted at submit fared (adaptive coverage, calibration.h).
  if (const JobRecord::SubmitPrediction& at = j.submit_prediction; score && at.made_ms > 0)
    calibrator_.Scored(run.seconds, {.seconds = at.run_s,
                                     .low = at.low_s,
                                     .high = at.high_s,
                                     .interval_scale = at.interval_scale,
                                     .log_interval = at.log_interval});
  calibrator_.Observe(run);
}

double Coordinator::PredictSeconds(const JobSpec& spec, const std::string& device) const {
  const model::PredictionQuery q = QueryOf(spec, device);
  const double s = calibrator_.PredictSeconds(q);
  // A class whose runs took no time predicts 0; with no history, 0 is not a prediction.
  const double predicted =
      s > 0 || calibrator_.Samples(q.job_class, "") > 0
          ? s
          : (spec.est_time_s > 0 ? spec.est_time_s : options_.default_task_seconds);
  // An attempt ends by its time limit at the latest.
  return spec.time_limit_ms > 0 ? std::min(predicted, spec.time_limit_ms / 1000.0) : predicted;
}

void Coordinator::Reconcile(JobRecord& j) {
  TimeMs now = clock_->NowMs();
  const JobRecord::Counts& c = j.counts;
  const int active = c.active, pending = c.pending, succeeded = c.succeeded, done = c.done;
  const TaskRecord* first_failed = nullptr;
  // Out of memory when a task ran out and none failed otherwise (the ranks a gang stopped with
  // it do not count).
  const bool oom = c.oom > 0 && (j.spec->gang || c.oom == c.failed);
  if ((c.failed > 0 || c.timeout > 0) && done == static_cast<int>(j.tasks.size()))  // say why
    for (const auto& t : j.tasks)
      if (oom ? t.state == TaskState::kOom
              : c.failed > 0 ? t.state == TaskState::kFailed || t.state == TaskState::kOom
                             : t.state == TaskState::kTimeout) {
        first_failed = &t;
        break;
      }
  JobState next = j.state;
  std::string reason = j.reason;
  if (!IsTerminal(j.state)) {
    const int n = static_cast<int>(j.tasks.size());
    if (j.gang_stopping) {
      next = JobState::kRunning;
    } else if (succeeded == n) {
      next = JobState::kSucceeded;
      reason.clear();
    } else if (done == n && c.failed == 0 && c.timeout == 0 && done > succeeded) {
      // Every task ended, none badly, some cancelled (one at a time, muster cancel JOB.TASK).
      next = JobState::kCancelled;
      for (const auto& t : j.tasks)
        if (t.state == TaskState::kCancelled) {
          reason = "task " + std::to_string(t.index) + " was cancelled";
          if (t.message.rfind("preempted by", 0) == 0) reason += ": " + t.message;
          break;
        }
    } else if (done == n) {
      // Timed out if a task did and none failed.
      next = oom                              ? JobState::kOom
             : c.failed == 0 && c.timeout > 0 ? JobState::kTimeout
                                              : JobState::kFailed;
      if (first_failed)
        reason =
            "task " + std::to_string(first_failed->index) +
            (next == JobState::kTimeout ? " timed out: "
             : next == JobState::kOom   ? ": "  // "out of memory: limit 64 MiB, ..."
                                        : " failed: ") +
            (first_failed->message.empty() ? "exit code " + std::to_string(first_failed->exit_code)
                                           : first_failed->message);
    } else if (active > 0 || (done > 0 && pending > 0)) {
      next = JobState::kRunning;
    } else {
      next = JobState::kPending;
    }
  }
  bool changed = reason != j.reason;
  if (next != j.state && jobs_.SetJobState(j, next).ok()) {
    if (next == JobState::kRunning && j.start_ms == 0) j.start_ms = now;
    if (IsTerminal(next)) j.end_ms = now;
    changed = true;
  }
  j.reason = reason;
  if (changed) PersistJob(j);
  if (IsTerminal(j.state) && active == 0) {
    if (jobs_.SetActive(j.id, false)) Kick();  // dependents may now run
  } else {
    jobs_.SetActive(j.id, true);
  }
}

void Coordinator::SendKill(const std::string& node, JobId job, const TaskRecord& t,
                           DurationMs grace_ms, const std::string& reason) {
  NodeEntry* n = nodes_.Find(node);
  if (!n || !n->channel) return;
  v1::CoordinatorMessage m;
  auto* k = m.mutable_kill();
  k->set_job_id(job);
  k->set_task_index(t.index);
  k->set_attempt(t.attempt);
  k->set_grace_ms(grace_ms);
  k->set_reason(reason);
  n->channel->Send(std::move(m));
}

// ------------------------------------------------------------------------------ submit, cancel

Status Coordinator::CheckSubmittable(const JobSpec& spec) const {
  for (const auto* list : {&spec.after, &spec.after_any, &spec.after_notok})
    for (JobId dep : *list)
      if (!jobs_.Find(dep))
        return Status::NotFound("dependency job " + std::to_string(dep) + " does not exist");
  std::vector<NodeSpec> nodes;
  std::string only;  // the single users of agents that are not root
  for (const auto& [name, n] : nodes_.all())
    if (n.only_user.empty() || n.only_user == spec.user)
      nodes.push_back(n.rec.spec);
    else if (only.find(n.only_user) == std::string::npos)
      only += (only.empty() ? "" : ", ") + n.only_user;
  if (nodes.empty() && !only.empty())
    return Status::Infeasible("no node can run " + spec.user +
                              "'s tasks: every agent runs as one user (" + only +
                              "), not as root, and runs only that user's tasks");
  if (nodes.empty()) return Status::Ok();  // accepted; waits for nodes
  return CheckFeasible(spec, nodes);
}

Result<JobId> Coordinator::Submit(JobSpec submitted) {
  const auto started = std::chrono::steady_clock::now();
  Status valid = submitted.Validate();
  if (!valid.ok()) return valid;
  if (submitted.user == "root" && !options_.allow_root_jobs)
    return Status::PermissionDenied(
        "permission denied: this cluster does not run jobs as root (its coordinator would need "
        "--allow-root-jobs); submit as another user");
  if (submitted.log_limit_mib > options_.max_log_limit_mib)
    return Status::InvalidArgument("log-limit " + std::to_string(submitted.log_limit_mib) +
                                   "M is above this cluster's maximum of " +
                                   std::to_string(options_.max_log_limit_mib) + "M");
  for (const auto& [k, v] : submitted.env)
    if (k.empty() || k.find('=') != std::string::npos)
      return Status::InvalidArgument("environment variable name '" + k + "' is not valid");
  if (submitted.time_limit_ms == 0) submitted.time_limit_ms = options_.default_time_limit_ms;
  if (options_.max_time_limit_ms > 0 && submitted.time_limit_ms > options_.max_time_limit_ms)
    return Status::InvalidArgument("time limit " + FormatDurationMs(submitted.time_limit_ms) +
                                   " is above this cluster's maximum of " +
                                   FormatDurationMs(options_.max_time_limit_ms));
  if (options_.max_time_limit_ms > 0 && submitted.time_limit_ms == 0)
    submitted.time_limit_ms = options_.max_time_limit_ms;
  if (submitted.requeue_on_timeout && submitted.time_limit_ms == 0)
    return Status::InvalidArgument("requeue-on-timeout needs a time limit (--time)");
  auto spec = std::make_shared<const JobSpec>(std::move(submitted));

  JobRecord job;
  StateStore::Ticket ticket;
  {
    MutexLock lock(mu_);
    const std::pair<std::string, std::string> request{spec->user, spec->request_id};
    // A retried submission: the job the first one made (a read-only coordinator has it too).
    // One still being stored answers when it is done, and a retry meanwhile is told so.
    if (!request.second.empty())
      if (JobId made = jobs_.FindRequest(request.first, request.second); made != 0) return made;
    if (!read_only_.ok()) return read_only_;
    if (!request.second.empty()) {
      if (!submitting_.insert(request).second)
        return Status::Unavailable("the submission with request id " + request.second +
                                   " is still being stored; retry in a moment");
    }
    Status ok = CheckSubmittable(*spec);
    if (!ok.ok()) {
      submitting_.erase(request);
      return ok;
    }
    job.id = jobs_.ReserveId();
    job.spec = spec;
    job.submit_ms = clock_->NowMs();
    job.reason = nodes_.all().empty() ? "waiting for nodes" : "";
    const int n = spec->TaskCount();
    job.tasks.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) job.tasks[static_cast<size_t>(i)].index = spec->TaskIndex(i);
    ticket = store_->InsertJob(job);
    if (spec->hold) {
      job.held_by = spec->user;
      job.held_ms = job.submit_ms;
      ticket = store_->UpdateHold(job);  // after the job's row; the last ticket waited for
    }
  }
  const auto committing = std::chrono::steady_clock::now();
  Status durable = store_->Wait(ticket);
  const auto committed = std::chrono::steady_clock::now();
  commit_seconds_.Observe(std::chrono::duration<double>(committed - committing).count());
  if (!durable.ok()) {
    spdlog::error("job {} not stored: {}", job.id, durable.message());
    MutexLock lock(mu_);
    submitting_.erase({spec->user, spec->request_id});
    return Status::Unavailable("the state store failed: " + durable.message());
  }
  const JobId id = job.id;
  {
    MutexLock lock(mu_);
    submitting_.erase({spec->user, spec->request_id});
    // One that waits for another job or a release is predicted when it can start.
    const JobSpec& added = *jobs_.Add(std::move(job)).spec;
    if (!added.hold && !added.singleton && added.after.empty() && added.after_any.empty() &&
        added.after_notok.empty())
      new_jobs_ = true;
  }
  Kick();
  submit_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return id;
}

std::vector<ChangeResult> Coordinator::Cancel(const std::vector<JobId>& job_ids,
                                              const std::vector<TaskRef>& tasks) {
  std::vector<ChangeResult> results(job_ids.size() + tasks.size());
  std::vector<std::pair<ChangeResult*, std::vector<StateStore::Ticket>>> stored;
  {
    MutexLock lock(mu_);
    TimeMs now = clock_->NowMs();
    for (size_t i = 0; i < job_ids.size(); ++i) {
      const JobId id = job_ids[i];
      ChangeResult* r = &results[i];
      r->job_id = id;
      JobRecord* j = jobs_.Find(id);
      if (!j) {
        r->error = "job " + std::to_string(id) + " not found";
        continue;
      }
      if (IsTerminal(j->state)) {
        r->error = "job " + std::to_string(id) + " already " + JobStateName(j->state);
        continue;
      }
      if (!read_only_.ok()) {  // nothing is changed that could not be stored
        r->error = read_only_.message();
        continue;
      }
      if (!jobs_.SetJobState(*j, JobState::kCancelled).ok()) {
        r->error = "job " + std::to_string(id) + " cannot be cancelled now";
        continue;
      }
      j->end_ms = now;
      j->reason = "cancelled by user";
      std::vector<StateStore::Ticket> tickets;
      for (auto& t : j->tasks) {
        if (t.Active()) {
          if (!t.stop_requested) SendKill(t.node, j->id, t, options_.kill_grace_ms, "cancel");
          t.stop_requested = true;
        } else if (!t.Done()) {
          Transition(*j, t, TaskState::kCancelled);
          t.end_ms = now;
          tickets.push_back(PersistTask(*j, t));
        }
      }
      tickets.push_back(PersistJob(*j));
      stored.emplace_back(r, std::move(tickets));
      Reconcile(*j);
    }
  }
  {
    MutexLock lock(mu_);
    TimeMs now = clock_->NowMs();
    for (size_t i = 0; i < tasks.size(); ++i) {
      const TaskRef& ct = tasks[i];
      ChangeResult* r = &results[job_ids.size() + i];
      r->job_id = ct.job;
      r->is_task = true;
      r->task_index = ct.index;
      const std::string what =
          "task " + std::to_string(ct.job) + "." + std::to_string(ct.index);
      JobRecord* j = jobs_.Find(ct.job);
      TaskRecord* t = j ? JobTable::FindTask(*j, ct.index) : nullptr;
      if (!j) {
        r->error = "job " + std::to_string(ct.job) + " not found";
      } else if (!t) {
        r->error = "job " + std::to_string(ct.job) + " has no task " +
                     std::to_string(ct.index);
      } else if (j->spec->gang) {
        r->error = "job " + std::to_string(j->id) +
                     " is a gang: its ranks stop together (muster cancel " +
                     std::to_string(j->id) + ")";
      } else if (IsTerminal(j->state) || t->Done()) {
        r->error = what + " already " + TaskStateName(t->state);
      } else if (!read_only_.ok()) {
        r->error = read_only_.message();
      } else {
        std::vector<StateStore::Ticket> tickets;
        if (t->Active()) {  // ends as cancelled when its agent reports the end
          if (!t->stop_requested) SendKill(t->node, j->id, *t, options_.kill_grace_ms, "cancel");
          t->stop_requested = true;
        } else {
          Transition(*j, *t, TaskState::kCancelled);
          t->end_ms = now;
          t->message = "cancelled by user";
          tickets.push_back(PersistTask(*j, *t));
        }
        AddHistory(*j, what + " cancelled by user");
        stored.emplace_back(r, std::move(tickets));
        Reconcile(*j);
      }
    }
  }
  Kick();
  // Answer only once the cancellation is committed.
  for (auto& [r, tickets] : stored) {
    Status durable;
    for (StateStore::Ticket t : tickets)
      if (Status s = store_->Wait(t); !s.ok() && durable.ok()) durable = s;
    if (durable.ok()) {
      r->ok = true;
      continue;
    }
    spdlog::error("cancel of job {} not stored: {}", r->job_id, durable.message());
    r->error = "job " + std::to_string(r->job_id) +
                 " is stopping, but the state store failed to record the cancel (" +
                 durable.message() +
                 "); a coordinator restart before the store recovers would "
                 "run it again";
  }
  return results;
}

}  // namespace muster::cluster
