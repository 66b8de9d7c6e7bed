// Replay state upkeep: queue keys, job specs handed to the scheduler, starting and stopping
// jobs on the virtual cluster (see replay.h).
#include <algorithm>
#include <numeric>

#include "core/capacity.h"
#include "sim/replay.h"

namespace muster::sim::detail {

Replay::Replay(const Workload& w, const ClusterConfig& c, const SimOptions& o, const SimPolicy& p)
    : w_(w),
      o_(o),
      policy_(p),
      n_(static_cast<int>(w.jobs.size())),
      queue_(w.jobs.size(), p.kind == PolicyKind::kFairshare) {
  for (NodeSpec& spec : BuildNodes(c)) {
    sched::NodeView v;
    v.free = NodeFree::AllFree(spec);
    v.spec = std::move(spec);
    snap_.nodes.push_back(std::move(v));
  }
  snap_.nodes_generation = 1;  // the simulated nodes never change spec or state
  node_busy_.assign(snap_.nodes.size(), 0);
  for (const auto& v : snap_.nodes)
    max_node_gpus_ = std::max(max_node_gpus_, static_cast<int>(v.spec.gpus.size()));
  total_gpus_ = free_gpus_ = c.TotalGpus();
  plugins_ = sched::PluginRegistry::Default();
  policies_ = sched::PreemptivePolicies(o.las_thresholds_gpu_s);  // the defaults and las
  cfg_.queue_policy = p.scheduler_policy;
  cfg_.backfill = o.backfill;
  cfg_.max_predicted_jobs = 0;  // the replay needs starts only, not predicted rows
  cfg_.scorers = o.placement == "scattered" ? std::vector<std::string>{"spread"}
                                            : std::vector<std::string>{"fewest-nodes", "binpack"};
  run_.resize(n_);
  out_.resize(n_);
  run_pos_.resize(n_);
  job_spec_.resize(n_);
  running_index_.assign(n_, -1);
  running_key_.resize(n_);
  user_gpus_.assign(w.users.size() + 1, 0);
  if (o.balancer.mode != balance::BalancerMode::kOff) {
    auto b = balance::Balancer::Create(o.balancer);  // validated by ValidateOptions
    if (b.ok()) balancer_.emplace(std::move(b).value());
  }
  r_.balancer = balance::BalancerModeName(o.balancer.mode);
  durations_ = o.durations == "oracle" ? -1 : SubmitPredictions::PredictorIndex(o.durations);
  if (o.predict || durations_ >= 0) predictions_.emplace(w, o.predict_horizon);
  r_.durations = o.durations;
}

void Replay::PredictArrivals(const std::vector<int>& arrived) {
  std::vector<int> queue;
  queue.reserve(queue_.size());
  for (const OrderKey& k : queue_) queue.push_back(static_cast<int>(k.id));
  std::vector<SubmitPredictions::Running> running;
  running.reserve(running_jobs_.size());
  std::vector<int> started;
  for (int j : running_jobs_)
    running.push_back({j, w_.jobs[j].gpus, out_[j].first_start_ms});
  for (int j : arrived)
    if (run_[j].state == RunState::kRunning) started.push_back(j);
  predictions_->ProjectStarts(arrived, now_, free_gpus_, queue, running, started);
}

double Replay::RemainingMs(int j) const {
  if (durations_ < 0) return run_[j].remaining_ms;
  const double done = static_cast<double>(w_.jobs[j].duration_ms) - run_[j].remaining_ms;
  return std::max(1.0, predictions_->PredictedRunS(j, durations_) * 1000 - done);
}

OrderKey Replay::QueueKey(int j) const {
  const SimJob& job = w_.jobs[j];
  int64_t key = 0;
  switch (policy_.kind) {
    case PolicyKind::kPriority:
      key = -job.priority;
      break;
    case PolicyKind::kSjf:
    case PolicyKind::kSrtf:
      key = sched::SrtfKey(RemainingMs(j));
      break;
    case PolicyKind::kLas:
      key = run_[j].level;  // sched::LasKey of its attained service, kept as it changes
      break;
    default:
      break;
  }
  return {key, job.submit_ms, j};
}

OrderKey Replay::RunningKey(int j) const {
  OrderKey k = QueueKey(j);
  if (policy_.kind == PolicyKind::kSrtf) {
    double done = static_cast<double>(std::max<TimeMs>(0, now_ - run_[j].run_start)) * run_[j].rate;
    k.key = sched::SrtfKey(RemainingMs(j) - done);
  }
  return k;
}

std::shared_ptr<const JobSpec> Replay::SpecFor(int j) {
  if (job_spec_[j]) return job_spec_[j];
  const SimJob& job = w_.jobs[j];
  const int prio = job.priority;
  auto key = std::make_tuple(job.gpus, prio, job.user);
  auto it = specs_.find(key);
  if (it != specs_.end()) return job_spec_[j] = it->second;
  auto spec = std::make_shared<JobSpec>();
  spec->name = "sim";
  spec->command = {"sim"};
  spec->user = job.user < static_cast<int>(w_.users.size()) ? w_.users[job.user] : "";
  spec->tasks = job.gpus;
  spec->gang = job.gpus > 1;
  // --single-node-jobs: a gang that fits on the largest node must run on one node.
  if (o_.single_node_jobs && spec->gang && job.gpus <= max_node_gpus_)
    spec->ranks_per_node = job.gpus;
  spec->priority = prio;
  spec->resources.milli_cpus = 0;
  spec->resources.memory_mib = 0;
  spec->resources.gpus = 1;
  specs_.emplace(key, spec);
  return job_spec_[j] = spec;
}

void Replay::Enqueue(int j) {
  run_[j].state = RunState::kQueued;
  queue_.Insert(j, QueueKey(j), w_.jobs[j].user, w_.jobs[j].gpus);
  r_.max_queue = std::max<int64_t>(r_.max_queue, static_cast<int64_t>(queue_.size()));
}

void Replay::Checkpoint(int j) {
  JobRun& jr = run_[j];
  const int g = w_.jobs[j].gpus;
  // [overhead_start, run_start) is checkpoint/restart time after a migration; work from run_start.
  const double paid =
      static_cast<double>(std::max<TimeMs>(0, std::min(now_, jr.run_start) - jr.overhead_start));
  const double dt = static_cast<double>(std::max<TimeMs>(0, now_ - jr.run_start));
  jr.remaining_ms -= dt * jr.rate;
  jr.attained_gpu_ms += dt * g;
  out_[j].gpu_seconds += dt * g / 1000.0;
  r_.busy_gpu_seconds += dt * g / 1000.0;
  out_[j].overhead_gpu_seconds += paid * g / 1000.0;
  r_.migration_overhead_gpu_seconds += paid * g / 1000.0;
  jr.overhead_start = now_;
  jr.run_start = std::max(jr.run_start, now_);
}

void Replay::ScheduleDemotion(int j) {
  JobRun& jr = run_[j];
  const auto& th = o_.las_thresholds_gpu_s;
  if (policy_.kind != PolicyKind::kLas || jr.level >= static_cast<int>(th.size())) return;
  double need = th[jr.level] * 1000.0 - jr.attained_gpu_ms;
  TimeMs t = jr.run_start + std::max<DurationMs>(0, CeilMs(need / w_.jobs[j].gpus));
  if (t < jr.finish) events_.push({t, kDemotion, j, jr.epoch});
}

std::vector<sched::RejectedPlacement> Replay::ApplyAndStart(const sched::Plan& plan) {
  static const ResourceRequest kRank = [] {
    ResourceRequest r;  // a rank holds one GPU and nothing else
    r.milli_cpus = 0;
    r.memory_mib = 0;
    r.gpus = 1;
    return r;
  }();
  sched::ApplyRules rules;
  rules.job = [&](JobId id) {
    sched::JobAdmission a;
    const int j = static_cast<int>(id);
    if (j < 0 || j >= n_) {
      a.admit = Status::Internal("plan names unknown job " + std::to_string(id));
    } else if (run_[j].state != RunState::kQueued) {
      a.admit = Status::Internal("plan starts job " + std::to_string(j) + ", which is not queued");
    } else {
      a.request = &kRank;
      a.whole = w_.jobs[j].gpus;
    }
    return a;
  };
  sched::AppliedPlan applied = sched::ApplyPlan(snap_.nodes, plan, rules);
  std::stable_sort(applied.accepted.begin(), applied.accepted.end(),
                   [](const auto& a, const auto& b) { return a.job < b.job; });
  for (const sched::JobStart& s : applied.accepted) Start(static_cast<int>(s.job), s.placements);
  return std::move(applied.rejected);
}

void Replay::Start(int j, const std::vector<const sched::Placement*>& ps) {
  const SimJob& job = w_.jobs[j];
  JobRun& jr = run_[j];
  int held = 0;
  std::vector<int> nodes;
  for (const sched::Placement* p : ps) {
    held += static_cast<int>(p->gpus.size());
    nodes.push_back(p->node);
  }
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  double speed = 1e300;
  for (int n : nodes) speed = std::min(speed, snap_.nodes[n].spec.speed);
  if (!(speed > 0)) speed = 1.0;
  const bool multi = nodes.size() > 1;
  jr.rate = speed / (multi ? o_.multi_node_slowdown : 1.0);
  jr.overhead_start = now_;
  jr.run_start = now_ + jr.pending_overhead_ms;  // checkpoint/restart time after a migration
  jr.pending_overhead_ms = 0;
  jr.pinned_node = -1;
  jr.finish = jr.run_start + std::max<DurationMs>(1, CeilMs(jr.remaining_ms / jr.rate));
  jr.state = RunState::kRunning;
  queue_.Erase(j);
  for (const sched::Placement* p : ps) {
    sched::RunningTask rt;
    rt.task = p->task;
    rt.node = p->node;
    rt.gpus = p->gpus;
    rt.resources.milli_cpus = 0;
    rt.resources.memory_mib = 0;
    rt.resources.gpus = static_cast<int>(p->gpus.size());
    node_busy_[p->node] += static_cast<int>(p->gpus.size());
    changed_nodes_.push_back(p->node);
    rt.started_ms = now_;
    rt.predicted_finish_ms = jr.finish;
    if (durations_ >= 0) rt.predicted_finish_ms = now_ + std::max<DurationMs>(1000, CeilMs(RemainingMs(j)));
    rt.checkpointable = job.checkpointable;
    owner_.push_back({j, static_cast<int>(run_pos_[j].size())});
    run_pos_[j].push_back(static_cast<int>(snap_.running.size()));
    snap_.running.push_back(std::move(rt));
  }
  free_gpus_ -= job.gpus;
  user_gpus_[job.user] += job.gpus;
  running_index_[j] = static_cast<int>(running_jobs_.size());
  running_jobs_.push_back(j);
  running_key_[j] = QueueKey(j);
  running_keys_.insert(running_key_[j]);
  JobOutcome& out = out_[j];
  if (out.first_start_ms < 0) out.first_start_ms = now_;
  ++out.starts;
  out.max_gpus_held = std::max(out.max_gpus_held, held);
  if (multi && out.max_nodes <= 1) ++r_.multi_node_jobs;
  out.max_nodes = std::max(out.max_nodes, static_cast<int>(nodes.size()));
  events_.push({jr.finish, kCompletion, j, jr.epoch});
  ScheduleDemotion(j);
}

void Replay::Stop(int j, StopKind kind) {
  const bool finished = kind == StopKind::kFinished;
  Checkpoint(j);
  JobRun& jr = run_[j];
  auto& pos = run_pos_[j];
  while (!pos.empty()) {
    int p = pos.back();
    pos.pop_back();
    sched::RunningTask& rt = snap_.running[p];
    Release(snap_.nodes[rt.node].free, rt.resources, rt.gpus);
    node_busy_[rt.node] -= static_cast<int>(rt.gpus.size());
    changed_nodes_.push_back(rt.node);
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
  running_keys_.erase(running_key_[j]);
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
    // What the predictors learn: the run's time, as a job that ran once would have taken.
    if (predictions_)
      predictions_->Finished(j, static_cast<double>(job.duration_ms) / 1000.0 / jr.rate);
  } else {
    jr.level = static_cast<int>(sched::LasKey(jr.attained_gpu_ms / 1000.0, o_.las_thresholds_gpu_s));
    // Checkpoint/restart time not yet paid (stopped during it) is paid at the next start.
    jr.pending_overhead_ms = std::max<DurationMs>(0, jr.run_start - now_);
    if (kind == StopKind::kPreempted) {
      ++out_[j].preemptions;
      ++r_.preemptions;
    }
    ++r_.events;
    jr.remaining_ms = std::max(jr.remaining_ms, 1.0);
    Enqueue(j);
  }
}

}  // namespace muster::sim::detail
