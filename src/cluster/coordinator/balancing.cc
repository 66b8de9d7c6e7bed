// Coordinator: the live load balancer (monitor -> evaluate -> adjust), see docs/balancer.md.
//
// Monitoring: every heartbeat's usage (CPU load, per-GPU utilization) is appended to its node's
// window (options.usage_window_ms, oldest readings dropped). The measured usage handed to the
// balancer is the window mean: per GPU the mean of its known readings (-1 if none), per node the
// mean CPU load over the node's CPUs (clamped to [0, 1]). Speed factors are not measured (1).
// Each balancer period one row per node (predicted, measured and blended load, CPU load) goes to
// the store's usage_history table at most every usage_history_interval_ms; rows older than
// usage_history_keep_ms are pruned.
//
// Evaluation: the scheduling pass captures its snapshot (and plan) when a period is due; then
// BalancePass runs balance::Balancer::Decide on it (mode off: only balance::Evaluate), keeps the
// evaluation, its trend (balance_trend.h: the recent evaluations, then hours of per-minute
// means), the moves with their outcome
// and the notes for GetBalance and /metrics.
//
// Adjustment (mode on): each move with apply = true is re-checked against the current state
// under the coordinator's lock, in order, debiting one view of free capacity:
//   migrate  - the job still runs, is checkpointable, all of its active tasks are exactly the
//              listed ones on from_node and none is stopping; the target is connected and holds
//              every task (the balancer's GPUs, else any free matching ones). Then Kill (grace
//              kill_grace_ms) goes to every task, which is marked migrating: when it ends it goes
//              back to pending with no retry or loss counted, and the job is pinned to the target.
//   steal / retarget - the listed tasks are exactly the job's pending tasks: the job is pinned
//              to the target (a partial steal of an array is dropped: only whole jobs are pinned).
// A move that fails its check, or any move while an earlier one is still in flight (a job still
// stopping for a migration, or a pinned job not yet started), is dropped and ForgetMove'd. Each
// applied move is appended to the job's history ("migrated from A to B at <UTC time>: why") and
// to the audit log (as "balancer").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>
#include <sstream>

#include "cluster/coordinator/coordinator.h"
#include "core/capacity.h"
#include "model/prediction_accuracy.h"

namespace muster::cluster {

std::string UtcTime(TimeMs ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

namespace {
// Who the audit log names for the balancer's own moves.
const Caller kBalancer{.name = "balancer", .role = Role::kAdmin, .via = "internal"};
}  // namespace

namespace {

std::string NameOf(const std::vector<std::string>& names, int i) {
  return i >= 0 && i < static_cast<int>(names.size()) ? names[static_cast<size_t>(i)] : "";
}

}  // namespace

// ------------------------------------------------------------------------------ monitoring

void Coordinator::RecordUsage(NodeEntry& n, const v1::UsageSample& u, TimeMs now) {
  NodeEntry::Reading r;
  r.time_ms = now;
  r.cpu_load = std::isfinite(u.cpu_load()) ? std::max(0.0, u.cpu_load()) : 0;
  for (const auto& g : u.gpus()) {
    double x = g.utilization();
    r.gpu_util.push_back(std::isfinite(x) && x >= 0 ? std::min(1.0, x) : -1);
  }
  n.window.push_back(std::move(r));
  while (!n.window.empty() &&
         (n.window.front().time_ms < now - options_.usage_window_ms || n.window.size() > 100000))
    n.window.pop_front();
}

balance::MeasuredUsage Coordinator::MeasuredUsageFor(const sched::ClusterSnapshot& snap) const {
  balance::MeasuredUsage usage;
  const TimeMs since = snap.now_ms - options_.usage_window_ms;
  for (const auto& view : snap.nodes) {
    balance::NodeUsage nu;
    nu.gpu_utilization.assign(view.spec.gpus.size(), -1);
    if (const NodeEntry* entry = nodes_.Find(view.spec.name)) {
      double cpu_sum = 0;
      int cpu_n = 0;
      std::vector<double> sum(view.spec.gpus.size(), 0);
      std::vector<int> cnt(view.spec.gpus.size(), 0);
      for (const auto& r : entry->window) {
        if (r.time_ms < since) continue;
        cpu_sum += r.cpu_load;
        ++cpu_n;
        for (size_t g = 0; g < r.gpu_util.size() && g < sum.size(); ++g)
          if (r.gpu_util[g] >= 0) {
            sum[g] += r.gpu_util[g];
            ++cnt[g];
          }
      }
      if (cpu_n > 0 && view.spec.milli_cpus > 0)
        nu.utilization = std::clamp(cpu_sum / cpu_n / (view.spec.milli_cpus / 1000.0), 0.0, 1.0);
      for (size_t g = 0; g < sum.size(); ++g)
        if (cnt[g] > 0) nu.gpu_utilization[g] = std::clamp(sum[g] / cnt[g], 0.0, 1.0);
    }
    usage.nodes.push_back(std::move(nu));
  }
  return usage;
}

// ------------------------------------------------------------------------------ the pass

bool Coordinator::BalanceDue(TimeMs now) const {
  return now - last_balance_ms_.load() >= options_.balancer.period_ms;
}

void Coordinator::CaptureForBalancer(const sched::ClusterSnapshot& snap, const sched::Plan* plan) {
  balance_snap_ = snap;
  if (plan)
    balance_plan_ = *plan;
  else
    balance_plan_.reset();
}

void Coordinator::BalancePass() {
  if (!balance_snap_) return;
  sched::ClusterSnapshot snap = std::move(*balance_snap_);
  balance_snap_.reset();
  std::optional<sched::Plan> plan = std::move(balance_plan_);
  balance_plan_.reset();
  last_balance_ms_ = snap.now_ms;
  const balance::BalancerConfig& cfg = options_.balancer;

  std::vector<std::string> names;
  for (const auto& n : snap.nodes) names.push_back(n.spec.name);
  balance::MeasuredUsage usage;
  {
    MutexLock lock(mu_);
    usage = MeasuredUsageFor(snap);
  }

  balance::Decision d;
  if (cfg.mode == balance::BalancerMode::kOff || !balancer_) {
    auto ev = balance::Evaluate(snap, usage, cfg.load);
    if (!ev.ok()) {
      spdlog::error("balancer: evaluation failed: {}", ev.status().message());
      return;
    }
    d.due = true;
    d.evaluation = std::move(ev).value();
  } else {
    balance::BalanceContext ctx;
    ctx.now_ms = snap.now_ms;
    ctx.usage = usage;
    sched::Plan empty;
    ctx.plan = plan ? &*plan : &empty;
    auto r = balancer_->Decide(snap, ctx);
    if (!r.ok()) {
      spdlog::error("balancer: decision failed: {}", r.status().message());
      return;
    }
    if (!r->due) return;
    d = std::move(r).value();
  }

  // ---- apply (mode on) and record outcomes
  std::vector<BalanceMoveView> moves;
  {
    MutexLock lock(mu_);
    auto free = cluster_.SchedulableFree();
    const bool in_flight = MoveInFlight();
    for (const auto& m : d.moves) {
      BalanceMoveView bm{.job_id = m.job,
                         .tasks = m.tasks,
                         .from_node = NameOf(names, m.from_node),
                         .to_node = NameOf(names, m.to_node),
                         .kind = balance::MoveKindName(m.kind),
                         .gain_s = m.gain_s,
                         .cost_s = m.cost_s,
                         .reason = m.reason,
                         .apply = m.apply,
                         .outcome = "dry-run",
                         .time_ms = snap.now_ms,
                         .text = m.ToString(names)};
      if (m.apply) {
        std::string why =
            in_flight ? "an earlier move is still in progress" : ApplyMove(m, names, free);
        bm.outcome = why.empty() ? "applied" : "dropped: " + why;
        if (!why.empty()) balancer_->ForgetMove(m.job);
        spdlog::info("balancer: {} -> {}", bm.text, bm.outcome);
      }
      moves.push_back(std::move(bm));
    }
    // Downsampled history in the store.
    for (const auto& s : d.evaluation.node_loads) {
      const std::string name = NameOf(names, s.node);
      NodeEntry* found = nodes_.Find(name);
      if (!found) continue;
      NodeEntry& n = *found;
      if (n.last_history_ms > 0 &&
          snap.now_ms - n.last_history_ms < options_.usage_history_interval_ms)
        continue;
      n.last_history_ms = snap.now_ms;
      double cpu = n.window.empty() ? 0 : n.window.back().cpu_load;
      store_->InsertUsage({name, snap.now_ms, s.predicted, s.measured, s.load, cpu});
    }
    if (snap.now_ms - last_usage_prune_ms_ >= options_.usage_history_interval_ms * 6) {
      last_usage_prune_ms_ = snap.now_ms;
      store_->PruneUsage(snap.now_ms - options_.usage_history_keep_ms);
    }
  }

  auto row = [&](const balance::LoadSample& s) {
    return LoadRow{.node = NameOf(names, s.node),
                   .gpu = s.gpu,
                   .predicted = s.predicted,
                   .measured = s.measured,
                   .load = s.load};
  };
  BalanceView st{.mode = balance::BalancerModeName(cfg.mode),
                 .evaluated_ms = snap.now_ms,
                 .period_ms = cfg.period_ms,
                 .threshold = cfg.threshold,
                 .k = cfg.consecutive_periods,
                 .streak = d.streak,
                 .armed = d.rebalance_armed,
                 .nodes = d.evaluation.nodes,
                 .gpus = d.evaluation.gpus,
                 .notes = d.notes};
  for (const auto& s : d.evaluation.node_loads) st.node_loads.push_back(row(s));
  for (const auto& s : d.evaluation.gpu_loads) st.gpu_loads.push_back(row(s));
  st.moves = moves;

  MutexLock lock(balance_mu_);
  trend_.Add({.time_ms = snap.now_ms, .nodes = st.nodes, .gpus = st.gpus});
  for (auto& m : moves) {
    ++move_counts_[m.outcome.rfind("dropped", 0) == 0 ? "dropped" : m.outcome];
    if (m.apply) recent_moves_.push_back(std::move(m));
  }
  while (recent_moves_.size() > 50) recent_moves_.pop_front();
  balance_status_ = std::move(st);
}

// ------------------------------------------------------------------------------ applier

bool Coordinator::MoveInFlight() const {
  for (JobId id : jobs_.active()) {
    const JobRecord& j = jobs_.Get(id);
    if (!IsTerminal(j.state) && (!j.migrate_reason.empty() || !j.pinned_node.empty())) return true;
  }
  return false;
}

void Coordinator::AddHistory(JobRecord& j, const std::string& text) {
  j.history.push_back(text);
  if (j.history.size() > 100) j.history.erase(j.history.begin());
  store_->AppendJobHistory(j.id, clock_->NowMs(), text);
}

void Coordinator::ExpirePins(TimeMs now) {
  for (auto it = pinned_.begin(); it != pinned_.end();) {
    JobRecord* found = jobs_.Find(*it);
    if (!found || found->pinned_node.empty()) {  // gone, or its pin did its work meanwhile
      it = pinned_.erase(it);
      continue;
    }
    JobRecord& j = *found;
    ++it;
    if (IsTerminal(j.state)) {
      j.pinned_node.clear();
      j.migrate_reason.clear();
      store_->UpdatePin(j);
    } else if (j.migrate_reason.empty() && j.pin_expires_ms > 0 && now > j.pin_expires_ms) {
      spdlog::info("balancer: job {} did not start on {} in time; pin dropped", j.id,
                   j.pinned_node);
      AddHistory(j, "pin to " + j.pinned_node + " expired at " + UtcTime(now));
      j.pinned_node.clear();
      store_->UpdatePin(j);
    }
  }
}

std::string Coordinator::ApplyMove(const balance::Move& m, const std::vector<std::string>& names,
                                   std::map<std::string, NodeFree>& free) {
  const TimeMs now = clock_->NowMs();
  JobRecord* j = jobs_.Find(m.job);
  if (!j || IsTerminal(j->state)) return "job " + std::to_string(m.job) + " is finished or gone";
  if (j->gang_stopping || !j->migrate_reason.empty()) return "the job is stopping";
  const std::string to = NameOf(names, m.to_node);
  const NodeEntry* tn = nodes_.Find(to);
  if (to.empty() || !tn || !tn->Connected())
    return "target node " + (to.empty() ? std::to_string(m.to_node) : to) + " is not connected";
  if (tn->rec.Drained()) return "target node " + to + " is drained";
  if (!tn->only_user.empty() && tn->only_user != j->spec->user)
    return "target node " + to + " runs only " + tn->only_user + "'s tasks";
  const std::set<int> listed(m.tasks.begin(), m.tasks.end());

  if (m.kind == balance::MoveKind::kMigrate) {
    if (!j->spec->checkpointable) return "the job is not checkpointable";
    const std::string from = NameOf(names, m.from_node);
    if (from == to) return "source and target are the same node";
    std::vector<TaskRecord*> active;
    for (auto& t : j->tasks) {
      if (!t.Active()) continue;
      if (t.node != from || t.stop_requested) return "the job's tasks changed since the decision";
      active.push_back(&t);
    }
    if (active.empty()) return "the job is no longer running";
    if (listed.size() != active.size()) return "the job's tasks changed since the decision";
    for (auto* t : active)
      if (!listed.count(t->index)) return "the job's tasks changed since the decision";
    auto nf = free.find(to);
    if (nf == free.end()) return "target node " + to + " is not connected";
    NodeFree trial = nf->second;
    for (size_t k = 0; k < active.size(); ++k) {
      // to_gpus is in `tasks` order; find this task's slot.
      std::vector<int> want;
      auto pos = std::find(m.tasks.begin(), m.tasks.end(), active[k]->index);
      size_t slot = static_cast<size_t>(pos - m.tasks.begin());
      if (slot < m.to_gpus.size()) want = m.to_gpus[slot];
      if (!TryTake(tn->rec.spec, trial, j->spec->resources, want).ok())
        return "no room on " + to + " any more";
    }
    nf->second = std::move(trial);
    j->migrate_reason = "migrated to " + to + ": " + m.reason;
    j->pinned_node = to;
    j->pin_expires_ms = now + options_.kill_grace_ms + options_.pin_timeout_ms;
    pinned_.insert(j->id);
    store_->UpdatePin(*j);
    for (auto* t : active) StopToMove(*j, *t, "migrate");
    AddHistory(*j, "migrated from " + from + " to " + to + " at " + UtcTime(now) + ": " + m.reason);
    Audit(kBalancer, "migrate", "job " + std::to_string(j->id) + " " + from + " -> " + to,
          Status::Ok());
    return "";
  }

  // steal / retarget: pin the whole pending job.
  std::set<int> pending;
  for (const auto& t : j->tasks)
    if (t.state == TaskState::kPending) pending.insert(t.index);
  if (pending.empty()) return "the job has no pending tasks";
  if (pending != listed)
    return "only whole pending jobs are moved live (the move lists " +
           std::to_string(listed.size()) + " of " + std::to_string(pending.size()) + " tasks)";
  j->pinned_node = to;
  j->pin_expires_ms = now + options_.pin_timeout_ms;
  pinned_.insert(j->id);
  store_->UpdatePin(*j);
  AddHistory(*j, std::string(m.kind == balance::MoveKind::kSteal ? "stolen" : "retargeted") +
                     " to " + to + " at " + UtcTime(now) + ": " + m.reason);
  Audit(kBalancer, m.kind == balance::MoveKind::kSteal ? "steal" : "retarget",
        "job " + std::to_string(j->id) + " -> " + to, Status::Ok());
  Kick();
  return "";
}

// ------------------------------------------------------------------------------ views

BalanceView Coordinator::GetBalance(size_t trend_points) const {
  int queue = 0, running = 0, running_jobs = 0;
  {
    MutexLock lock(mu_);
    for (JobId id : jobs_.active()) {
      const JobRecord& j = jobs_.Get(id);
      if (!IsTerminal(j.state)) queue += j.counts.pending;
      running += j.counts.active;
      if (j.counts.active > 0) ++running_jobs;
    }
  }
  BalanceView st;
  {
    MutexLock lock(balance_mu_);
    st = balance_status_;
    st.trend = trend_.Points(trend_points);
    st.recent_moves.assign(recent_moves_.begin(), recent_moves_.end());
  }
  const auto& cfg = options_.balancer;
  st.mode = balance::BalancerModeName(cfg.mode);
  st.period_ms = cfg.period_ms;
  st.threshold = cfg.threshold;
  st.k = cfg.consecutive_periods;
  st.now_ms = clock_->NowMs();
  st.queue_length = queue;
  st.running_tasks = running;
  st.running_jobs = running_jobs;
  return st;
}

std::string Coordinator::MetricsText() const {
  const BalanceView st = GetBalance(/*trend_points=*/1);
  std::map<std::string, int64_t> counts;
  {
    MutexLock lock(balance_mu_);
    counts = move_counts_;
  }
  std::ostringstream o;
  o.precision(6);
  auto gauge = [&](const char* name, const char* help, double v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << v << "\n";
  };
  auto esc = [](const std::string& s) {
    std::string r;
    for (char c : s) {
      if (c == '\\' || c == '"') r += '\\';
      if (c == '\n') {
        r += "\\n";
        continue;
      }
      r += c;
    }
    return r;
  };
  gauge("muster_store_writable",
        "1 while the state store takes writes; 0 while the coordinator is read-only",
        Writable().ok() ? 1 : 0);
  gauge("muster_jain_index", "Jain's index of node loads (1 = balanced)", st.nodes.jain);
  gauge("muster_imbalance_factor", "Node load imbalance factor lambda = max/mean - 1",
        st.nodes.imbalance_factor);
  gauge("muster_load_cov", "Coefficient of variation of node loads", st.nodes.cov);
  gauge("muster_relative_imbalance", "1 - mean/max of node loads", st.nodes.relative_imbalance);
  gauge("muster_gpu_jain_index", "Jain's index of GPU loads", st.gpus.jain);
  gauge("muster_gpu_imbalance_factor", "GPU load imbalance factor", st.gpus.imbalance_factor);
  o << "# HELP muster_node_load Blended load of each ready node (0..1)\n"
       "# TYPE muster_node_load gauge\n";
  for (const auto& r : st.node_loads)
    o << "muster_node_load{node=\"" << esc(r.node) << "\"} " << r.load << "\n";
  o << "# HELP muster_gpu_load Blended load of each GPU (0..1)\n# TYPE muster_gpu_load gauge\n";
  for (const auto& r : st.gpu_loads)
    o << "muster_gpu_load{node=\"" << esc(r.node) << "\",gpu=\"" << r.gpu << "\"} " << r.load
      << "\n";
  gauge("muster_queue_length", "Pending tasks", st.queue_length);
  gauge("muster_running_tasks", "Launching or running tasks", st.running_tasks);
  gauge("muster_balance_streak", "Consecutive periods with lambda over the threshold", st.streak);
  o << "# HELP muster_balance_moves_total Balancer moves by outcome\n"
       "# TYPE muster_balance_moves_total counter\n";
  for (const char* k : {"applied", "dropped", "dry-run"})
    o << "muster_balance_moves_total{outcome=\"" << k << "\"} "
      << (counts.count(k) ? counts.at(k) : 0) << "\n";

  // Jobs and tasks by state, pending tasks by user (of the jobs the coordinator keeps: the
  // unfinished ones and the finished ones within --retention), and how the predictions made at
  // submit fared for the succeeded ones.
  std::map<std::string, int64_t> jobs_by_state, tasks_by_state, pending_by_user;
  std::vector<model::PredictedRun> predicted;
  {
    MutexLock lock(mu_);
    for (const auto& [id, j] : jobs_.all()) {
      if (const auto& p = j.submit_prediction;
          j.state == JobState::kSucceeded && p.made_ms > 0 && j.start_ms > 0 && j.end_ms > 0) {
        model::FinishedJob f{
            .together = model::RunsTogether(j.spec->gang, !j.spec->array.empty(), j.spec->tasks),
            .submit_ms = j.submit_ms,
            .predicted_start_ms = p.start_ms,
            .predicted_finish_ms = p.finish_ms,
            .start_ms = j.start_ms,
            .end_ms = j.end_ms,
            .low_s = p.low_s,
            .high_s = p.high_s};
        for (const auto& t : j.tasks)
          if (t.start_ms > 0 && t.end_ms >= t.start_ms)
            f.longest_task_s = std::max(f.longest_task_s, (t.end_ms - t.start_ms) / 1000.0);
        predicted.push_back(model::ToPredictedRun(f));
      }
      ++jobs_by_state[JobStateName(j.state)];
      const JobRecord::Counts& c = j.counts;
      tasks_by_state["pending"] += c.pending;
      tasks_by_state["active"] += c.active;
      tasks_by_state["succeeded"] += c.succeeded;
      tasks_by_state["failed"] += c.failed - c.oom;
      tasks_by_state["oom"] += c.oom;
      tasks_by_state["timeout"] += c.timeout;
      tasks_by_state["cancelled"] += c.done - c.succeeded - c.failed - c.timeout;
      if (c.pending > 0 && !IsTerminal(j.state)) pending_by_user[j.spec->user] += c.pending;
    }
  }
  for (JobState s : {JobState::kPending, JobState::kRunning, JobState::kSucceeded,
                     JobState::kFailed, JobState::kCancelled, JobState::kTimeout, JobState::kOom})
    jobs_by_state.try_emplace(JobStateName(s), 0);
  auto labelled = [&](const char* name, const char* help, const char* label,
                      const std::map<std::string, int64_t>& values) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
    for (const auto& [k, v] : values) o << name << "{" << label << "=\"" << esc(k) << "\"} " << v << "\n";
  };
  labelled("muster_jobs", "Jobs the coordinator keeps, by state", "state", jobs_by_state);
  labelled("muster_tasks", "Tasks of those jobs by state (active: launching or running)", "state",
           tasks_by_state);
  labelled("muster_pending_tasks", "Pending tasks by the user who owns them", "user",
           pending_by_user);
  const model::Accuracy acc = model::SummarizeAccuracy(predicted).front();
  o << "# HELP muster_prediction_runtime_rel_error |predicted - actual| / actual run time of "
       "the jobs that succeeded, as predicted at submit\n"
       "# TYPE muster_prediction_runtime_rel_error gauge\n"
    << "muster_prediction_runtime_rel_error{quantile=\"0.5\"} " << acc.runtime_rel_error.median
    << "\nmuster_prediction_runtime_rel_error{quantile=\"0.9\"} " << acc.runtime_rel_error.p90
    << "\n# HELP muster_prediction_start_error_seconds |predicted - actual| start, as predicted "
       "at submit\n# TYPE muster_prediction_start_error_seconds gauge\n"
    << "muster_prediction_start_error_seconds{quantile=\"0.5\"} " << acc.start_error_s.median
    << "\nmuster_prediction_start_error_seconds{quantile=\"0.9\"} " << acc.start_error_s.p90
    << "\n";
  gauge("muster_prediction_bias", "Median of (predicted - actual) / actual run time (> 0: too long)",
        acc.bias);
  gauge("muster_prediction_interval90_coverage",
        "Share of run times inside the 90% interval predicted at submit", acc.interval_coverage);
  gauge("muster_prediction_jobs", "Succeeded jobs with a prediction made at submit", acc.jobs);

  // The GPUs' live readings, where the nodes' drivers report them.
  const NodeListView nodes = ListNodes();
  const struct {
    const char* name;
    const char* help;
    double (*get)(const GpuReadings&);
  } readings[] = {
      {"muster_gpu_utilization", "Utilization of each GPU (0..1), as its driver reports it",
       [](const GpuReadings& g) { return g.utilization; }},
      {"muster_gpu_memory_used_bytes", "Memory in use on each GPU",
       [](const GpuReadings& g) {
         return g.memory_used_mib < 0 ? -1.0 : static_cast<double>(g.memory_used_mib) * 1048576;
       }},
      {"muster_gpu_power_watts", "Power draw of each GPU",
       [](const GpuReadings& g) { return g.power_w; }},
  };
  for (const auto& r : readings) {
    o << "# HELP " << r.name << " " << r.help << "\n# TYPE " << r.name << " gauge\n";
    for (const auto& n : nodes.nodes)
      for (size_t i = 0; i < n.spec.gpus.size(); ++i)
        if (const double v = r.get(n.gpu_readings[i]); v >= 0)
          o << r.name << "{node=\"" << esc(n.spec.name) << "\",gpu=\"" << n.spec.gpus[i].index
            << "\"} " << v << "\n";
  }
  o << "# HELP muster_node_ready 1 for each node that takes tasks (ready), 0 otherwise\n"
       "# TYPE muster_node_ready gauge\n";
  for (const auto& n : nodes.nodes)
    o << "muster_node_ready{node=\"" << esc(n.spec.name) << "\",state=\"" << esc(n.state)
      << "\"} " << (n.state == "ready" ? 1 : 0) << "\n";

  o << pass_seconds_.Text("muster_scheduling_pass_seconds", "Duration of scheduling passes")
    << submit_seconds_.Text("muster_submit_seconds",
                            "Submissions, from the call to the durable reply")
    << commit_seconds_.Text("muster_store_commit_seconds",
                            "The store's commit of each submission (part of muster_submit_seconds)");
  return o.str();
}

}  // namespace muster::cluster
