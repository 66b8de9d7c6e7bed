// Implementation notes (see engine.h for the model):
// - Snapshot upkeep is incremental: a start marks GPUs busy and appends RunningTask rows; a stop
//   swap-removes them (owner_ maps a row back to its job so moved rows stay findable).
// - Work is tracked in reference milliseconds (run time on a speed-1.0 GPU, one node); a running
//   job progresses at `rate` = slowest node speed / slowdown. Checkpoint() brings a running job's
//   remaining work, attained service and GPU-seconds up to `now`.
// - Events carry the job's epoch at scheduling time; a preemption bumps the epoch, so completion
//   and demotion events of the interrupted run are recognised as stale and dropped.
#include "sim/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <queue>
#include <tuple>

#include "model/balance.h"
#include "sched/scheduler.h"
#include "sim/policy.h"
#include "sim/queue_index.h"

namespace muster::sim {

namespace {

enum EventType { kCompletion = 0, kDemotion = 1 };

struct Event {
  TimeMs t = 0;
  int type = kCompletion;
  int job = 0;
  int64_t epoch = 0;
  bool operator>(const Event& o) const {
    return std::tie(t, type, job, epoch) > std::tie(o.t, o.type, o.job, o.epoch);
  }
};

enum class RunState : uint8_t { kFuture, kQueued, kRunning, kDone, kRejected };

struct JobRun {
  double remaining_ms = 0;     // reference work left
  double attained_gpu_ms = 0;  // LAS service
  double rate = 1;             // reference ms per wall ms while running
  TimeMs run_start = 0;        // last checkpoint while running
  TimeMs finish = 0;           // scheduled completion while running
  int64_t epoch = 0;
  int level = 0;
  RunState state = RunState::kFuture;
};

DurationMs CeilMs(double ms) { return static_cast<DurationMs>(std::ceil(ms - 1e-9)); }

class Replay {
 public:
  Replay(const Workload& w, const ClusterConfig& c, const SimOptions& o, const SimPolicy& p)
      : w_(w), o_(o), policy_(p), n_(static_cast<int>(w.jobs.size())), queue_(w.jobs.size(),
        p.kind == PolicyKind::kFairshare) {
    for (NodeSpec& spec : BuildNodes(c)) {
      sched::NodeView v;
      v.free = NodeFree::AllFree(spec);
      v.spec = std::move(spec);
      snap_.nodes.push_back(std::move(v));
    }
    node_busy_.assign(snap_.nodes.size(), 0);
    total_gpus_ = free_gpus_ = c.TotalGpus();
    cfg_.queue_policy = p.scheduler_policy;
    cfg_.backfill = o.backfill;
    cfg_.max_predicted_jobs = 0;  // the replay needs starts only, not predicted rows
    cfg_.scorers = o.placement == "scattered" ? std::vector<std::string>{"spread"}
                                              : std::vector<std::string>{"fewest-nodes", "binpack"};
    run_.resize(n_);
    out_.resize(n_);
    run_pos_.resize(n_);
    running_index_.assign(n_, -1);
    user_gpus_.assign(w.users.size() + 1, 0);
  }

  Result<SimResult> Run();

 private:
  OrderKey QueueKey(int j) const;
  OrderKey RunningKey(int j) const;
  std::shared_ptr<const JobSpec> SpecFor(int j);
  void Enqueue(int j);
  void Checkpoint(int j);
  void Stop(int j, bool finished);
  Status Start(int j, const std::vector<const sched::Placement*>& ps);
  void ScheduleDemotion(int j);
  void MaybePreempt();
  Status RunPasses();
  double Jain();

  const Workload& w_;
  const SimOptions& o_;
  SimPolicy policy_;
  int n_;
  TimeMs now_ = 0;
  sched::ClusterSnapshot snap_;
  sched::SchedulerConfig cfg_;
  std::vector<std::pair<int, int>> owner_;  // snap_.running row -> (job, index in run_pos_[job])
  std::vector<std::vector<int>> run_pos_;   // job -> its rows in snap_.running
  std::vector<int> running_jobs_;           // ids of running jobs
  std::vector<int> running_index_;          // job -> index in running_jobs_, or -1
  std::vector<int> node_busy_;
  std::vector<int64_t> user_gpus_;
  int total_gpus_ = 0;
  int free_gpus_ = 0;
  std::vector<JobRun> run_;
  std::vector<JobOutcome> out_;
  QueueIndex queue_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const JobSpec>> specs_;
  std::vector<int> view_;
  std::vector<double> loads_;
  SimResult r_;
};

OrderKey Replay::QueueKey(int j) const {
  const SimJob& job = w_.jobs[j];
  int64_t key = 0;
  switch (policy_.kind) {
    case PolicyKind::kPriority: key = -job.priority; break;
    case PolicyKind::kSjf:
    case PolicyKind::kSrtf: key = CeilMs(run_[j].remaining_ms); break;
    case PolicyKind::kLas: key = run_[j].level; break;
    default: break;
  }
  return {key, job.submit_ms, j};
}

OrderKey Replay::RunningKey(int j) const {
  OrderKey k = QueueKey(j);
  if (policy_.kind == PolicyKind::kSrtf) {
    double done = static_cast<double>(now_ - run_[j].run_start) * run_[j].rate;
    k.key = CeilMs(std::max(0.0, run_[j].remaining_ms - done));
  }
  return k;
}

std::shared_ptr<const JobSpec> Replay::SpecFor(int j) {
  const SimJob& job = w_.jobs[j];
  int prio = policy_.kind == PolicyKind::kLas ? -run_[j].level : job.priority;
  auto key = std::make_tuple(job.gpus, prio, job.user);
  auto it = specs_.find(key);
  if (it != specs_.end()) return it->second;
  auto spec = std::make_shared<JobSpec>();
  spec->name = "sim";
  spec->command = {"sim"};
  spec->user = job.user < static_cast<int>(w_.users.size()) ? w_.users[job.user] : "";
  spec->tasks = job.gpus;
  spec->gang = job.gpus > 1;
  spec->priority = prio;
  spec->resources.milli_cpus = 0;
  spec->resources.memory_mib = 0;
  spec->resources.gpus = 1;
  specs_.emplace(key, spec);
  return spec;
}

void Replay::Enqueue(int j) {
  run_[j].state = RunState::kQueued;
  queue_.Insert(j, QueueKey(j), w_.jobs[j].user, w_.jobs[j].gpus);
  r_.max_queue = std::max<int64_t>(r_.max_queue, static_cast<int64_t>(queue_.size()));
}

void Replay::Checkpoint(int j) {
  JobRun& jr = run_[j];
  const double dt = static_cast<double>(now_ - jr.run_start);
  const int g = w_.jobs[j].gpus;
  jr.remaining_ms -= dt * jr.rate;
  jr.attained_gpu_ms += dt * g;
  out_[j].gpu_seconds += dt * g / 1000.0;
  r_.busy_gpu_seconds += dt * g / 1000.0;
  jr.run_start = now_;
}

void Replay::ScheduleDemotion(int j) {
  JobRun& jr = run_[j];
  const auto& th = o_.las_thresholds_gpu_s;
  if (policy_.kind != PolicyKind::kLas || jr.level >= static_cast<int>(th.size())) return;
  double need = th[jr.level] * 1000.0 - jr.attained_gpu_ms;
  TimeMs t = jr.run_start + std::max<DurationMs>(0, CeilMs(need / w_.jobs[j].gpus));
  if (t < jr.finish) events_.push({t, kDemotion, j, jr.epoch});
}

Status Replay::Start(int j, const std::vector<const sched::Placement*>& ps) {
  const SimJob& job = w_.jobs[j];
  JobRun& jr = run_[j];
  if (jr.state != RunState::kQueued)
    return Status::Internal("plan starts job " + std::to_string(j) + ", which is not queued");
  int held = 0;
  std::vector<int> nodes;
  for (const sched::Placement* p : ps) {
    if (p->node < 0 || p->node >= static_cast<int>(snap_.nodes.size()))
      return Status::Internal("plan names unknown node " + std::to_string(p->node));
    auto& free = snap_.nodes[p->node].free.gpu_free;
    for (int g : p->gpus) {
      if (g < 0 || g >= static_cast<int>(free.size()) || !free[g])
        return Status::Internal("plan puts job " + std::to_string(j) + " on busy or unknown GPU " +
                                std::to_string(g) + " of node " + std::to_string(p->node));
    }
    held += static_cast<int>(p->gpus.size());
    nodes.push_back(p->node);
  }
  if (held != job.gpus)
    return Status::Internal("plan gives job " + std::to_string(j) + " " + std::to_string(held) +
                            " GPUs; it asked for " + std::to_string(job.gpus));
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  double speed = 1e300;
  for (int n : nodes) speed = std::min(speed, snap_.nodes[n].spec.speed);
  if (!(speed > 0)) speed = 1.0;
  const bool multi = nodes.size() > 1;
  jr.rate = speed / (multi ? o_.multi_node_slowdown : 1.0);
  jr.run_start = now_;
  jr.finish = now_ + std::max<DurationMs>(1, CeilMs(jr.remaining_ms / jr.rate));
  jr.state = RunState::kRunning;
  queue_.Erase(j);
  for (const sched::Placement* p : ps) {
    for (int g : p->gpus) snap_.nodes[p->node].free.gpu_free[g] = false;
    node_busy_[p->node] += static_cast<int>(p->gpus.size());
    sched::RunningTask rt;
    rt.task = p->task;
    rt.node = p->node;
    rt.gpus = p->gpus;
    rt.resources.milli_cpus = 0;
    rt.resources.memory_mib = 0;
    rt.resources.gpus = static_cast<int>(p->gpus.size());
    rt.started_ms = now_;
    rt.predicted_finish_ms = jr.finish;
    rt.checkpointable = policy_.preemptive;
    owner_.push_back({j, static_cast<int>(run_pos_[j].size())});
    run_pos_[j].push_back(static_cast<int>(snap_.running.size()));
    snap_.running.push_back(std::move(rt));
  }
  free_gpus_ -= job.gpus;
  user_gpus_[job.user] += job.gpus;
  running_index_[j] = static_cast<int>(running_jobs_.size());
  running_jobs_.push_back(j);
  JobOutcome& out = out_[j];
  if (out.first_start_ms < 0) out.first_start_ms = now_;
  ++out.starts;
  out.max_gpus_held = std::max(out.max_gpus_held, held);
  if (multi && out.max_nodes <= 1) ++r_.multi_node_jobs;
  out.max_nodes = std::max(out.max_nodes, static_cast<int>(nodes.size()));
  events_.push({jr.finish, kCompletion, j, jr.epoch});
  ScheduleDemotion(j);
  return Status::Ok();
}

void Replay::Stop(int j, bool finished) {
  Checkpoint(j);
  JobRun& jr = run_[j];
  auto& pos = run_pos_[j];
  while (!pos.empty()) {
    int p = pos.back();
    pos.pop_back();
    sched::RunningTask& rt = snap_.running[p];
    for (int g : rt.gpus) snap_.nodes[rt.node].free.gpu_free[g] = true;
    node_busy_[rt.node] -= static_cast<int>(rt.gpus.size());
    int last = static_cast<int>(snap_.running.size()) - 1;
    if (p != last) {
      snap_.running[p] = std::move(snap_.running[last]);
      owner_[p] = owner_[last];
      run_pos_[owner_[p].first][owner_[p].second] = p;
    }
    snap_.running.pop_back();
    owner_.pop_back();
  }
  const SimJob& job = w_.jobs[j];
  free_gpus_ += job.gpus;
  user_gpus_[job.user] -= job.gpus;
  int idx = running_index_[j];
  running_jobs_[idx] = running_jobs_.back();
  running_index_[running_jobs_[idx]] = idx;
  running_jobs_.pop_back();
  running_index_[j] = -1;
  ++jr.epoch;
  if (finished) {
    jr.state = RunState::kDone;
    ++out_[j].completions;
    out_[j].finish_ms = now_;
  } else {
    ++out_[j].preemptions;
    ++r_.preemptions;
    ++r_.events;
    jr.remaining_ms = std::max(jr.remaining_ms, 1.0);
    Enqueue(j);
  }
}

void Replay::MaybePreempt() {
  queue_.View(static_cast<size_t>(o_.queue_view), &view_);
  // The first queued job (in policy order) that the free GPUs cannot serve.
  int free = free_gpus_;
  size_t first_blocked = view_.size();
  for (size_t i = 0; i < view_.size(); ++i) {
    int g = w_.jobs[view_[i]].gpus;
    if (g > free) {
      first_blocked = i;
      break;
    }
    free -= g;
  }
  if (first_blocked == view_.size() || running_jobs_.empty()) return;
  const OrderKey blocked = QueueKey(view_[first_blocked]);
  OrderKey worst = RunningKey(running_jobs_[0]);
  for (int j : running_jobs_) worst = std::max(worst, RunningKey(j));
  if (!(worst > blocked)) return;
  std::vector<PreemptionCandidate> queued, running;
  for (int j : view_) queued.push_back({QueueKey(j), w_.jobs[j].gpus});
  for (int j : running_jobs_) running.push_back({RunningKey(j), w_.jobs[j].gpus});
  std::vector<int> victims = ChoosePreemptions(free_gpus_, queued, running);
  std::vector<int> ids;
  for (int v : victims) ids.push_back(running_jobs_[v]);
  for (int j : ids) Stop(j, /*finished=*/false);
}

Status Replay::RunPasses() {
  while (!queue_.empty()) {
    if (policy_.preemptive) MaybePreempt();
    if (free_gpus_ == 0 || queue_.MinGpus() > free_gpus_) {
      ++r_.skipped_passes;
      return Status::Ok();
    }
    const size_t queued_before = queue_.size();
    queue_.View(static_cast<size_t>(o_.queue_view), &view_);
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
      pj.predicted_duration_ms = CeilMs(run_[j].remaining_ms);
      pj.user_dominant_share =
          static_cast<double>(user_gpus_[w_.jobs[j].user]) / std::max(1, total_gpus_);
    }
    snap_.now_ms = now_;
    Result<sched::Plan> plan = sched::Schedule(snap_, cfg_);
    ++r_.passes;
    if (!plan.ok()) return plan.status();
    std::vector<std::pair<int, const sched::Placement*>> starts;
    for (const auto& p : plan->placements)
      if (p.start_now) starts.push_back({static_cast<int>(p.task.job), &p});
    std::stable_sort(starts.begin(), starts.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    int started = 0;
    std::vector<const sched::Placement*> group;
    for (size_t i = 0; i < starts.size();) {
      size_t k = i;
      group.clear();
      for (; k < starts.size() && starts[k].first == starts[i].first; ++k)
        group.push_back(starts[k].second);
      int j = starts[i].first;
      if (j < 0 || j >= n_) return Status::Internal("plan names unknown job " + std::to_string(j));
      Status s = Start(j, group);
      if (!s.ok()) return s;
      ++started;
      i = k;
    }
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
  while (next < order.size() || !events_.empty() || dirty) {
    TimeMs t = dirty ? tick : std::numeric_limits<TimeMs>::max();
    if (next < order.size()) t = std::min(t, w_.jobs[order[next]].submit_ms);
    if (!events_.empty()) t = std::min(t, events_.top().t);
    if (series.AdvanceTo(t)) series.Sample(Jain());
    now_ = t;
    while (!events_.empty() && events_.top().t == t) {
      Event e = events_.top();
      events_.pop();
      JobRun& jr = run_[e.job];
      if (jr.state != RunState::kRunning || jr.epoch != e.epoch) continue;
      ++r_.events;
      if (e.type == kCompletion) {
        Stop(e.job, /*finished=*/true);
      } else {
        Checkpoint(e.job);
        jr.level = LasLevel(jr.attained_gpu_ms / 1000.0, o_.las_thresholds_gpu_s);
        ScheduleDemotion(e.job);
      }
    }
    while (next < order.size() && w_.jobs[order[next]].submit_ms == t) {
      int j = order[next++];
      ++r_.events;
      if (w_.jobs[j].gpus > total_gpus_) {
        run_[j].state = RunState::kRejected;
        out_[j].rejected = true;
        continue;
      }
      Enqueue(j);
    }
    if (interval > 0) {
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
  if (o_.keep_outcomes) r_.outcomes = out_;
  return std::move(r_);
}

}  // namespace

Status ValidateOptions(const SimOptions& o) {
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
  Replay replay(w, c, o, p);
  return replay.Run();
}

}  // namespace muster::sim
