// The replay loop, scheduling passes and preemption (model in engine.h, state in replay.h).
#include "sim/engine.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "model/balance.h"
#include "sim/replay.h"

namespace muster::sim {

namespace detail {

void Replay::MaybePreempt() {
  if (running_jobs_.empty()) return;
  const size_t k = static_cast<size_t>(o_.queue_view);
  // The first queued job (in policy order, within the view) that the free GPUs cannot serve.
  int first_blocked = -1;
  queue_.FittingPrefix(k, free_gpus_, &view_, &first_blocked);
  if (first_blocked < 0) return;
  const OrderKey blocked = QueueKey(first_blocked);
  const int need = w_.jobs[first_blocked].gpus;
  // Only running jobs that come strictly after it can be victims, for it or for any job behind
  // it (those come later still). They are read worst first and only as far as the walk needs:
  // from the ordered running keys, or for srtf (remaining times move with the clock, so there is
  // no index) from a list sorted now. ids[v] is the job of the v-th victim read.
  auto& by_clock = srtf_victims_;
  by_clock.clear();
  if (policy_.kind == PolicyKind::kSrtf) {
    for (int j : running_jobs_)
      if (OrderKey rk = RunningKey(j); sched::MayPreempt(rk, blocked)) by_clock.push_back({{rk, w_.jobs[j].gpus}, j});
    std::sort(by_clock.begin(), by_clock.end(),
              [](const auto& a, const auto& b) { return a.first.order > b.first.order; });
  }
  // Most calls find too few victims even for the blocked job: say so before walking the queue.
  int64_t reachable = free_gpus_;
  if (policy_.kind == PolicyKind::kSrtf) {
    for (const auto& c : by_clock) reachable += c.first.gpus;
  } else {
    for (auto it = running_keys_.rbegin();
         it != running_keys_.rend() && *it > blocked && reachable < need; ++it)
      reachable += w_.jobs[it->id].gpus;
  }
  if (reachable < need) return;
  std::vector<int>& ids = victim_ids_;
  ids.clear();
  auto keys_at = running_keys_.rbegin();
  PreemptionCandidate victim;
  auto next_victim = [&]() -> const PreemptionCandidate* {
    if (policy_.kind == PolicyKind::kSrtf) {
      if (ids.size() >= by_clock.size()) return nullptr;
      ids.push_back(by_clock[ids.size()].second);
      return &by_clock[ids.size() - 1].first;
    }
    if (keys_at == running_keys_.rend() || !(*keys_at > blocked)) return nullptr;
    const int j = static_cast<int>(keys_at->id);
    victim = {*keys_at, w_.jobs[j].gpus};
    ids.push_back(j);
    ++keys_at;
    return &victim;
  };
  auto queued_at = queue_.begin();
  size_t queued_read = 0;
  PreemptionCandidate queued;
  auto next_queued = [&]() -> const PreemptionCandidate* {
    if (queued_at == queue_.end() || queued_read >= k) return nullptr;
    queued = {*queued_at, queue_.gpus(static_cast<int>(queued_at->id))};
    ++queued_at;
    ++queued_read;
    return &queued;
  };
  std::vector<int> stop;
  for (int v : ChoosePreemptionsPulled(free_gpus_, next_queued, next_victim))
    stop.push_back(ids[v]);
  for (int j : stop) Stop(j, StopKind::kPreempted);
}

Status Replay::RunPasses() {
  while (!queue_.empty()) {
    if (policy_.preemptive) MaybePreempt();
    if (free_gpus_ == 0 || queue_.MinGpus() > free_gpus_) {
      ++r_.skipped_passes;
      return Status::Ok();
    }
    const size_t queued_before = queue_.size();
    FillQueueView();
    if (view_.empty()) {  // the first job in order cannot fit the free GPUs
      ++r_.skipped_passes;
      return Status::Ok();
    }
    snap_.now_ms = now_;
    // A predicted finish that has passed: the job is taken to end within a second.
    if (durations_ >= 0)
      for (auto& rt : snap_.running) rt.predicted_finish_ms = std::max(rt.predicted_finish_ms, now_ + 1000);
    if (!scheduler_) {
      auto made = sched::Scheduler::Create(cfg_, plugins_, policies_);
      if (!made.ok()) return made.status();
      scheduler_.emplace(std::move(made).value());
    }
    Result<sched::Plan> plan = scheduler_->Run(snap_, &changed_nodes_);
    changed_nodes_.clear();
    ++r_.passes;
    if (!plan.ok()) return plan.status();
    const size_t running_before = running_jobs_.size();
    std::vector<sched::RejectedPlacement> rejected = ApplyAndStart(*plan);
    if (!rejected.empty())  // the plan came from this very state: a scheduler bug
      return Status::Internal("plan does not fit the simulated cluster: " + rejected.front().why);
    int started = static_cast<int>(running_jobs_.size() - running_before);
    for (const auto& u : plan->unplaced) {
      if (u.why.code() != StatusCode::kInfeasible || u.job < 0 || u.job >= n_) continue;
      int j = static_cast<int>(u.job);
      if (run_[j].state != RunState::kQueued) continue;
      queue_.Erase(j);
      run_[j].state = RunState::kRejected;
      out_[j].rejected = true;
      ++started;
    }
    if (started == 0 || view_.size() >= queued_before) return Status::Ok();
  }
  return Status::Ok();
}

void Replay::FillQueueView(bool whole) {
  // Without backfill a pass stops at its first blocked job, and the scheduler's order is the
  // queue's key order (fairshare excepted: it orders users by their share at pass time). The
  // first job whose GPUs, after those of the jobs before it, exceed the free GPUs is blocked for
  // sure, so the pass needs only the jobs before it.
  if (!whole && PrefixPasses()) {
    int blocked = -1;
    queue_.FittingPrefix(static_cast<size_t>(o_.queue_view), free_gpus_, &view_, &blocked);
  } else {
    queue_.View(static_cast<size_t>(o_.queue_view), &view_);
  }
  snap_.queue.resize(view_.size());
  for (size_t i = 0; i < view_.size(); ++i) {
    int j = view_[i];
    sched::PendingJob& pj = snap_.queue[i];
    pj.id = j;
    pj.spec = SpecFor(j);
    pj.submitted_ms = w_.jobs[j].submit_ms;
    pj.pending_tasks.resize(static_cast<size_t>(w_.jobs[j].gpus));
    std::iota(pj.pending_tasks.begin(), pj.pending_tasks.end(), 0);
    pj.running_tasks = 0;
    pj.predicted_duration_ms = CeilMs(RemainingMs(j));
    pj.attained_gpu_seconds = run_[j].attained_gpu_ms / 1000.0;
    pj.user_dominant_share =
        static_cast<double>(user_gpus_[w_.jobs[j].user]) / std::max(1, total_gpus_);
    pj.pinned_node = run_[j].pinned_node;
  }
}

double Replay::Jain() {
  loads_.resize(snap_.nodes.size());
  for (size_t i = 0; i < loads_.size(); ++i) {
    size_t g = snap_.nodes[i].spec.gpus.size();
    loads_[i] = g ? static_cast<double>(node_busy_[i]) / static_cast<double>(g) : 0.0;
  }
  return model::JainIndex(loads_);
}

Result<SimResult> Replay::Run() {
  std::vector<int> order(n_);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return w_.jobs[a].submit_ms < w_.jobs[b].submit_ms; });
  r_.origin_ms = n_ ? w_.jobs[order[0]].submit_ms : 0;
  TimeSeries series(r_.origin_ms, o_.series_width_ms, o_.series_buckets);
  for (int j = 0; j < n_; ++j) {
    run_[j].remaining_ms = static_cast<double>(w_.jobs[j].duration_ms);
    out_[j].submit_ms = w_.jobs[j].submit_ms;
  }
  size_t next = 0;
  now_ = r_.origin_ms;
  const DurationMs interval = o_.pass_interval_ms;
  bool dirty = false;  // events since the last pass (interval mode)
  TimeMs tick = 0;     // next pass time while dirty (interval mode)
  const DurationMs period = std::max<DurationMs>(1, o_.balancer.period_ms);
  TimeMs next_balance = r_.origin_ms + period;  // balancer grid: origin + k * period
  std::vector<int> arrived;  // at this instant, with predictions
  while (next < order.size() || !events_.empty() || dirty) {
    TimeMs t = dirty ? tick : std::numeric_limits<TimeMs>::max();
    if (next < order.size()) t = std::min(t, w_.jobs[order[next]].submit_ms);
    if (!events_.empty()) t = std::min(t, events_.top().t);
    // Balancer periods only while something runs or waits (an idle cluster has nothing to move).
    const bool balance_due = balancer_ && (!running_jobs_.empty() || !queue_.empty());
    // A time that is only a balancer period gets no scheduling pass of its own (so a balancer
    // that moves nothing leaves the replay exactly as without it); Balance() runs one after
    // applying moves.
    const bool only_balance = balance_due && next_balance < t;
    if (balance_due) t = std::min(t, next_balance);
    if (series.AdvanceTo(t)) series.Sample(Jain());
    now_ = t;
    while (!events_.empty() && events_.top().t == t) {
      Event e = events_.top();
      events_.pop();
      JobRun& jr = run_[e.job];
      if (jr.state != RunState::kRunning || jr.epoch != e.epoch) continue;
      ++r_.events;
      if (e.type == kCompletion) {
        Stop(e.job, StopKind::kFinished);
      } else {
        Checkpoint(e.job);
        running_keys_.erase(running_key_[e.job]);
        jr.level = static_cast<int>(sched::LasKey(jr.attained_gpu_ms / 1000.0, o_.las_thresholds_gpu_s));
        running_key_[e.job] = QueueKey(e.job);
        running_keys_.insert(running_key_[e.job]);
        ScheduleDemotion(e.job);
      }
    }
    arrived.clear();
    while (next < order.size() && w_.jobs[order[next]].submit_ms == t) {
      int j = order[next++];
      ++r_.events;
      if (w_.jobs[j].gpus > total_gpus_) {
        run_[j].state = RunState::kRejected;
        out_[j].rejected = true;
        continue;
      }
      if (predictions_) {
        arrived.push_back(j);
        predictions_->PredictRuns({j});
      }
      Enqueue(j);
    }
    if (only_balance) {
      // no events: no pass
    } else if (interval > 0) {
      // Passes only on the interval grid (origin + k * interval), when something happened.
      if (!dirty) {
        TimeMs k = (t - r_.origin_ms + interval - 1) / interval;
        tick = r_.origin_ms + k * interval;
        dirty = true;
      }
      if (t == tick) {
        dirty = false;
        if (Status s = RunPasses(); !s.ok()) return s;
      }
    } else if (Status s = RunPasses(); !s.ok()) {
      return s;
    }
    if (balance_due && t == next_balance) {
      if (Status s = Balance(); !s.ok()) return s;
    }
    if (balancer_ && next_balance <= t)
      next_balance = r_.origin_ms + ((t - r_.origin_ms) / period + 1) * period;
    if (!arrived.empty() && o_.predict) PredictArrivals(arrived);
    series.SetLevels(total_gpus_ - free_gpus_, static_cast<double>(queue_.size()));
  }
  series.Sample(Jain());

  std::vector<double> jct, delay;
  TimeMs last_finish = r_.origin_ms;
  for (int j = 0; j < n_; ++j) {
    const JobOutcome& o = out_[j];
    if (o.rejected) {
      ++r_.rejected;
    } else if (o.completions > 0) {
      ++r_.completed;
      jct.push_back(static_cast<double>(o.finish_ms - o.submit_ms) / 1000.0);
      delay.push_back(static_cast<double>(o.first_start_ms - o.submit_ms) / 1000.0);
      last_finish = std::max(last_finish, o.finish_ms);
    } else {
      ++r_.unfinished;
    }
  }
  r_.jobs = n_;
  r_.policy = policy_.name;
  r_.backfill = o_.backfill;
  r_.total_gpus = total_gpus_;
  r_.jct_s = Summarize(jct);
  r_.jct_cdf = CdfPoints(jct, o_.cdf_points);
  r_.queue_delay_s = Summarize(delay);
  r_.makespan_s = static_cast<double>(last_finish - r_.origin_ms) / 1000.0;
  if (r_.makespan_s > 0 && total_gpus_ > 0)
    r_.utilization = r_.busy_gpu_seconds / (total_gpus_ * r_.makespan_s);
  r_.series = series.Points();
  r_.series_width_ms = series.width_ms();
  if (!r_.series.empty()) {
    double s = 0;
    for (const auto& p : r_.series) s += p.jain;
    r_.mean_jain = s / static_cast<double>(r_.series.size());
  }
  if (predictions_ && o_.predict) {
    std::vector<TimeMs> submit(n_), first(n_), finish(n_);
    std::vector<int> starts(n_);
    for (int j = 0; j < n_; ++j) {
      submit[j] = out_[j].submit_ms;
      first[j] = out_[j].first_start_ms;
      finish[j] = out_[j].finish_ms;
      starts[j] = out_[j].starts;
    }
    r_.prediction = predictions_->Report(submit, first, finish, starts);
  }
  if (o_.keep_outcomes) r_.outcomes = out_;
  return std::move(r_);
}

}  // namespace detail

balance::BalancerConfig DefaultSimBalancer() {
  balance::BalancerConfig c;
  c.mode = balance::BalancerMode::kOff;
  c.period_ms = 60'000;
  return c;
}

Status ValidateOptions(const SimOptions& o) {
  if (Status s = balance::ValidateBalancerConfig(o.balancer); !s.ok()) return s;
  if (auto p = ResolvePolicy(o.policy); !p.ok()) return p.status();
  if (o.placement != "consolidated" && o.placement != "scattered")
    return Status::InvalidArgument("placement '" + o.placement +
                                   "' is not consolidated or scattered");
  if (!(o.multi_node_slowdown >= 1.0) || !std::isfinite(o.multi_node_slowdown))
    return Status::InvalidArgument("multi-node slowdown must be a number >= 1");
  if (!std::is_sorted(o.las_thresholds_gpu_s.begin(), o.las_thresholds_gpu_s.end()))
    return Status::InvalidArgument("LAS thresholds must be ascending");
  for (double t : o.las_thresholds_gpu_s)
    if (!(t > 0)) return Status::InvalidArgument("LAS thresholds must be > 0 GPU-seconds");
  if (o.queue_view < 1) return Status::InvalidArgument("queue view must be >= 1");
  if (o.predict_horizon < 1) return Status::InvalidArgument("prediction horizon must be >= 1");
  if (o.durations != "oracle" && SubmitPredictions::PredictorIndex(o.durations) < 0)
    return Status::InvalidArgument("durations '" + o.durations +
                                   "' are not oracle, muster, mean_so_far or last_two_of_class");
  if (o.pass_interval_ms < 0) return Status::InvalidArgument("pass interval must be >= 0");
  if (o.series_buckets < 2 || o.series_width_ms < 1)
    return Status::InvalidArgument("series needs >= 2 buckets of >= 1 ms");
  return Status::Ok();
}

Result<SimResult> Simulate(const Workload& w, const ClusterConfig& c, const SimOptions& o) {
  if (Status s = ValidateOptions(o); !s.ok()) return s;
  if (c.TotalGpus() < 1) return Status::InvalidArgument("cluster has no GPUs");
  for (size_t i = 0; i < w.jobs.size(); ++i) {
    const SimJob& j = w.jobs[i];
    if (j.gpus < 1 || j.duration_ms < 1 || j.user < 0 ||
        (j.user >= static_cast<int>(w.users.size()) && !w.users.empty()))
      return Status::InvalidArgument("job " + std::to_string(i) +
                                     " needs >= 1 GPU, duration >= 1 ms and a known user");
  }
  SimPolicy p = ResolvePolicy(o.policy).value();
  detail::Replay replay(w, c, o, p);
  return replay.Run();
}

}  // namespace muster::sim
