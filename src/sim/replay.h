// Internal to the simulator engine (engine.cc, replay_state.cc): the state of one replay.
// - Snapshot upkeep is incremental: a start marks GPUs busy and appends RunningTask rows; a stop
//   swap-removes them (owner_ maps a row back to its job so moved rows stay findable).
// - Work is tracked in reference milliseconds (run time on a speed-1.0 GPU, one node); a running
//   job progresses at `rate` = slowest node speed / slowdown. Checkpoint() brings a running job's
//   remaining work, attained service and GPU-seconds up to `now`.
// - Events carry the job's epoch at scheduling time; a preemption bumps the epoch, so completion
//   and demotion events of the interrupted run are recognised as stale and dropped.
// - Migration overhead: a migrated job holds its new GPUs for [overhead_start, run_start) without
//   progressing; Checkpoint() books that time as overhead, never as work.
// Pure; single-threaded.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sched/placement_registry.h"
#include "sched/plan_apply.h"
#include "sched/queue_policy.h"
#include "sched/scheduler.h"
#include "sim/engine.h"
#include "sim/policy.h"
#include "sim/queue_index.h"

namespace muster::sim::detail {

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
  TimeMs run_start = 0;        // last checkpoint while running; after a migration, the end of
                               // its checkpoint/restart time (productive work starts here)
  TimeMs overhead_start = 0;   // start of the unpaid checkpoint/restart time (= run_start if none)
  DurationMs pending_overhead_ms = 0;  // checkpoint/restart time to pay at the next start
  int pinned_node = -1;                // while queued after a balancer pin: the only allowed node
  TimeMs finish = 0;                   // scheduled completion while running
  int64_t epoch = 0;
  int level = 0;
  RunState state = RunState::kFuture;
};

inline DurationMs CeilMs(double ms) {
  return static_cast<DurationMs>(std::ceil(ms - 1e-9));
}

class Replay {
 public:
  // REQUIRES: ValidateOptions(o).ok(); p is ResolvePolicy(o.policy).
  Replay(const Workload& w, const ClusterConfig& c, const SimOptions& o, const SimPolicy& p);

  // Runs the whole replay once.
  Result<SimResult> Run();

 private:
  // The reference work left of job j as the scheduler sees it: the trace's, or with
  // SimOptions::durations the predictor's run time less the work done.
  double RemainingMs(int j) const;
  OrderKey QueueKey(int j) const;
  OrderKey RunningKey(int j) const;
  std::shared_ptr<const JobSpec> SpecFor(int j);
  void Enqueue(int j);
  void Checkpoint(int j);
  enum class StopKind { kFinished, kPreempted, kMigrated };
  void Stop(int j, StopKind kind);
  // The queue view of a pass (see FillQueueView in engine.cc); `whole` always takes the capped
  // view, for the balancer's projection.
  void FillQueueView(bool whole = false);
  // Whether passes see only the jobs that could start (FillQueueView): backfill off and a
  // policy whose scheduler order is the queue's key order.
  bool PrefixPasses() const { return !o_.backfill && policy_.kind != PolicyKind::kFairshare; }
  Status Balance();
  bool ApplyMigrate(const balance::Move& m);
  bool ApplyStart(const balance::Move& m);
  // Lowest free GPUs of `node`, preferring `wanted` when all of those are free; empty if fewer
  // than `count` are free.
  std::vector<int> PickGpus(int node, int count, const std::vector<int>& wanted) const;
  // Re-checks and debits the plan's starts with sched::ApplyPlan (a queued job's ranks all or
  // none), then starts each accepted job; the rejected placements.
  std::vector<sched::RejectedPlacement> ApplyAndStart(const sched::Plan& plan);
  // Starts job j on placements that ApplyPlan accepted (their capacity is already debited).
  void Start(int j, const std::vector<const sched::Placement*>& ps);
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
  sched::PluginRegistry plugins_;
  sched::QueuePolicyRegistry policies_;     // the defaults plus "las" with the run's thresholds
  std::optional<sched::Scheduler> scheduler_;  // the passes' scheduler, built once
  std::vector<int> changed_nodes_;  // nodes whose free capacity changed since its last pass
  std::vector<std::pair<int, int>> owner_;  // snap_.running row -> (job, index in run_pos_[job])
  std::vector<std::vector<int>> run_pos_;   // job -> its rows in snap_.running
  std::vector<int> running_jobs_;           // ids of running jobs
  std::vector<int> running_index_;          // job -> index in running_jobs_, or -1
  // QueueKey of each running job, for preemption (kept for every policy; srtf orders by
  // remaining time instead, which moves with the clock).
  std::set<OrderKey> running_keys_;
  std::vector<OrderKey> running_key_;  // job -> its entry in running_keys_ while running
  // MaybePreempt's scratch: srtf's candidates (with their jobs) and the jobs of victims read.
  std::vector<std::pair<PreemptionCandidate, int>> srtf_victims_;
  std::vector<int> victim_ids_;
  std::vector<int> node_busy_;
  std::vector<int64_t> user_gpus_;
  int total_gpus_ = 0;
  int max_node_gpus_ = 0;
  int free_gpus_ = 0;
  std::vector<JobRun> run_;
  std::vector<JobOutcome> out_;
  QueueIndex queue_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::map<std::tuple<int, int, int>, std::shared_ptr<const JobSpec>> specs_;
  std::vector<std::shared_ptr<const JobSpec>> job_spec_;  // by job, filled on first use
  std::vector<int> view_;
  std::vector<double> loads_;
  std::optional<balance::Balancer> balancer_;  // engaged unless the balancer is off
  std::optional<SubmitPredictions> predictions_;  // engaged with predict or durations
  int durations_ = -1;  // the predictor the scheduler sees (SimOptions::durations); -1 = oracle
  // Predictions at submit for the jobs that arrived at now_ (after its pass).
  void PredictArrivals(const std::vector<int>& arrived);
  SimResult r_;
};

}  // namespace muster::sim::detail
