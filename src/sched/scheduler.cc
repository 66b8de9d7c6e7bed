// The online scheduler: one pass over an immutable snapshot produces a Plan (schedule table).
//
//   1. Order the queue with the configured QueuePolicy.
//   2. For each job in order: the FeasibilityOracle answers "never" (kInfeasible: no node of the
//      cluster could ever hold it) or "only on nodes that are not ready" (kUnschedulable, no
//      prediction). Otherwise the placement pipeline places its tasks now: a gang all or nothing,
//      other jobs task by task up to the array throttle (running + new starts <= throttle) and
//      the per-pass start limit. Each started task adds its predicted finish to the timeline.
//   3. The first job blocked by resources is the head. With backfill on, it gets a reservation
//      on the timeline (backfill.h) and a guard is installed so that later jobs start now only if
//      they cannot delay it (EASY backfill). With backfill off, no later job starts this pass.
//   4. Every job that did not fully start is projected on the timeline (timeline_projection.h),
//      head first, giving predicted start/finish rows (start_now = false), up to the horizon
//      max_predicted_jobs; each such job is also listed in Plan::unplaced with kUnschedulable
//      and the reason plus its predicted start.
// Durations: PendingJob::predicted_duration_ms is at speed 1.0; on a node of speed s a task is
// predicted to take duration / s.
// Pure: no I/O, clock, randomness or threads. Same snapshot and config give the same Plan.
// Thread-safe in the sense that calls share no state: concurrent passes on different (or the
// same, unmodified) snapshots are independent.
#include "sched/scheduler.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "sched/backfill.h"
#include "sched/placement_feasibility.h"
#include "sched/placement_rows.h"
#include "sched/queue_policy.h"
#include "sched/timeline_projection.h"

namespace muster::sched {

namespace {

// Failed single-task shapes of this pass. The pass only takes capacity (a gang's rollback gives
// back exactly what it took) and the guard only restricts, so a task that failed stays failed for
// any request at least as large and at least as long. Where some node runs only one user's
// tasks, a failure holds only for the same user (`user`; "" when no node is restricted).
class FailMemo {
 public:
  bool Fails(const TaskShape& s, DurationMs d, const std::string& user) const {
    for (const auto& f : failed_)
      if (f.shape.gpu_class == s.gpu_class && s.milli_cpus >= f.shape.milli_cpus &&
          s.memory_mib >= f.shape.memory_mib && s.gpus >= f.shape.gpus && d >= f.duration &&
          f.user == user)
        return true;
    return false;
  }
  void Add(const TaskShape& s, DurationMs d, const std::string& user) {
    if (failed_.size() < 64) failed_.push_back({s, d, user});
  }

 private:
  struct Entry {
    TaskShape shape;
    DurationMs duration;
    std::string user;
  };
  std::vector<Entry> failed_;
};

// Why a job did not (fully) start now.
enum class Wait : uint8_t { kResources, kBehindReservation, kThrottle, kStartLimit, kBackfillOff };

std::string Explain(Wait w, const JobSpec& spec, const SchedulerConfig& c, JobId head) {
  switch (w) {
    case Wait::kResources:
      return "waiting for resources";
    case Wait::kBehindReservation:
      return "no room now without delaying job " + std::to_string(head) + "'s reservation";
    case Wait::kThrottle:
      return "array throttle of " + std::to_string(spec.array.throttle) + " running tasks reached";
    case Wait::kStartLimit:
      return "start limit of " + std::to_string(c.max_starts_per_pass) + " tasks per pass reached";
    case Wait::kBackfillOff:
      return "queued behind job " + std::to_string(head) + " (backfill is off)";
  }
  return "waiting";
}

// "0.1s", "4.5s", "60s": tenths below ten seconds, whole seconds above (reasons are for people).
std::string Seconds(DurationMs ms) {
  if (ms >= 10000) return std::to_string((ms + 500) / 1000) + "s";
  DurationMs tenths = (ms + 50) / 100;
  std::string s = std::to_string(tenths / 10);
  if (tenths % 10 != 0) s += "." + std::to_string(tenths % 10);
  return s + "s";
}

Status ValidateConfig(const SchedulerConfig& c) {
  if (c.max_starts_per_pass < 0) return Status::InvalidArgument("max_starts_per_pass must be >= 0");
  if (c.candidate_limit < 0) return Status::InvalidArgument("candidate_limit must be >= 0");
  if (c.max_predicted_jobs < 0) return Status::InvalidArgument("max_predicted_jobs must be >= 0");
  return Status::Ok();
}

Status ValidateQueue(const ClusterSnapshot& snapshot) {
  for (const auto& j : snapshot.queue)
    if (!j.spec)
      return Status::InvalidArgument("queued job " + std::to_string(j.id) + " has no spec");
  return Status::Ok();
}

}  // namespace

std::vector<const Placement*> Plan::StartNow() const {
  std::vector<const Placement*> out;
  for (const auto& p : placements)
    if (p.start_now) out.push_back(&p);
  return out;
}

std::vector<std::string> QueuePolicyNames() {
  return QueuePolicyRegistry::Default().Names();
}
std::vector<std::string> ScorerNames() {
  return PluginRegistry::Default().ScorerNames();
}

struct Scheduler::Parts {
  SchedulerConfig config;
  std::unique_ptr<QueuePolicy> policy;
  PlacementPipeline pipeline;
  FeasibilityOracle oracle;
  std::optional<ClusterState> state;  // free capacity as of the previous Run
  uint64_t state_generation = 0;
};

namespace {

// Ends the pass's journal on every return path, so the kept state is the snapshot's again.
class PassJournal {
 public:
  explicit PassJournal(ClusterState& s) : s_(s) { s_.BeginPass(); }
  ~PassJournal() { s_.EndPass(); }
  PassJournal(const PassJournal&) = delete;
  PassJournal& operator=(const PassJournal&) = delete;

 private:
  ClusterState& s_;
};

}  // namespace

Scheduler::Scheduler(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Scheduler::Scheduler(Scheduler&&) noexcept = default;
Scheduler& Scheduler::operator=(Scheduler&&) noexcept = default;
Scheduler::~Scheduler() = default;

const SchedulerConfig& Scheduler::config() const {
  return parts_->config;
}

Result<Scheduler> Scheduler::Create(const SchedulerConfig& config) {
  return Create(config, PluginRegistry::Default(), QueuePolicyRegistry::Default());
}

Result<Scheduler> Scheduler::Create(const SchedulerConfig& config, const PluginRegistry& plugins,
                                    const QueuePolicyRegistry& policies) {
  if (Status v = ValidateConfig(config); !v.ok()) return v;
  auto policy = policies.Make(config.queue_policy);
  if (!policy.ok()) return policy.status();
  PipelineOptions popts;
  popts.scorers = config.scorers;
  popts.candidate_limit = config.candidate_limit;
  auto built = PlacementPipeline::Build(plugins, popts);
  if (!built.ok()) return built.status();
  auto parts = std::unique_ptr<Parts>(
      new Parts{config, std::move(policy).value(), std::move(built).value(), FeasibilityOracle()});
  return Scheduler(std::move(parts));
}

Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config) {
  return Schedule(snapshot, config, PluginRegistry::Default(), QueuePolicyRegistry::Default());
}

Result<Plan> Schedule(const ClusterSnapshot& snapshot, const SchedulerConfig& config,
                      const PluginRegistry& plugins, const QueuePolicyRegistry& policies) {
  auto scheduler = Scheduler::Create(config, plugins, policies);
  if (!scheduler.ok()) return scheduler.status();
  return scheduler->Run(snapshot);
}

Result<Plan> Scheduler::Run(const ClusterSnapshot& snapshot,
                            const std::vector<int>* changed_nodes) {
  if (Status v = ValidateQueue(snapshot); !v.ok()) return v;
  const SchedulerConfig& config = parts_->config;
  const PlacementPipeline& pipeline = parts_->pipeline;
  Parts& p = *parts_;
  const uint64_t gen = snapshot.nodes_generation;
  bool reuse = p.state && gen != 0 && gen == p.state_generation && changed_nodes != nullptr &&
               p.state->size() == static_cast<int>(snapshot.nodes.size());
  if (reuse) {
    for (int n : *changed_nodes) reuse = reuse && n >= 0 && n < p.state->size();
  }
  if (reuse) {
    p.state->Rebind(snapshot);
    for (int n : *changed_nodes) p.state->Refresh(n);
  } else {
    p.state.reset();
    auto state_or = ClusterState::FromSnapshot(snapshot);
    if (!state_or.ok()) return state_or.status();
    p.state.emplace(std::move(state_or).value());
    p.state_generation = gen;
  }
  ClusterState& state = *p.state;
  PassJournal journal(state);

  const auto& q = snapshot.queue;
  std::vector<TaskShape> shapes(q.size());
  std::vector<int> running(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    shapes[i] = state.ShapeOf(q[i].spec->resources);
    running[i] = q[i].running_tasks;
  }
  // The timeline is read only by the backfill reservation and the projection; a pass with
  // neither (the simulator without backfill) never builds it, and the others build it on first
  // use (the first blocked job, or a job left waiting), so a pass that starts everything does not
  // read every running task. Releases added before the build are replayed in order after the
  // running tasks', which keeps the timeline's tie order.
  const bool need_timeline = config.backfill || config.max_predicted_jobs > 0;
  ReleaseTimeline timeline;
  bool timeline_built = false;
  std::vector<Release> early;  // releases added before the build
  auto add_release = [&](TimeMs at, const Grant& g, int owner) {
    if (!need_timeline) return;
    if (timeline_built)
      timeline.Add(at, g, owner);
    else
      early.push_back({at, 0, g, owner});
  };
  auto built_timeline = [&]() -> ReleaseTimeline& {
    if (timeline_built) return timeline;
    timeline_built = true;
    if (!snapshot.running.empty()) {
      std::unordered_map<JobId, int> owner;
      for (size_t i = 0; i < q.size(); ++i) owner.emplace(q[i].id, static_cast<int>(i));
      timeline.AddRunning(snapshot, [&](JobId id) {
        auto it = owner.find(id);
        return it == owner.end() ? -1 : it->second;
      });
    }
    for (const Release& r : early) timeline.Add(r.at, r.grant, r.owner);
    early.clear();
    return timeline;
  };

  FeasibilityOracle& oracle = parts_->oracle;
  oracle.Rebind(snapshot);
  FailMemo memo;
  Plan plan;
  std::vector<WaitingJob> waiting;
  std::vector<Wait> reasons;
  waiting.reserve(q.size());
  reasons.reserve(q.size());
  plan.unplaced.reserve(q.size());
  int head = -1;  // index into waiting
  JobId head_id = 0;
  std::optional<Reservation> reservation;
  bool stopped = false;  // backfill off and the head is blocked: no more starts this pass
  int starts = 0;
  const TimeMs now = snapshot.now_ms;

  for (int qi : parts_->policy->Order(snapshot)) {
    const PendingJob& job = q[qi];
    const JobSpec& spec = *job.spec;
    const int n = static_cast<int>(job.pending_tasks.size());
    if (n == 0) continue;
    if (Status f = oracle.Check(job); !f.ok()) {
      plan.unplaced.push_back({job.id, std::move(f)});
      continue;
    }
    PlacementAsk ask;
    ask.job = &job;
    ask.shape = shapes[qi];
    ask.duration_ms = job.predicted_duration_ms;
    ask.start_ms = now;
    int placed = 0;
    bool blocked = false;
    Wait reason = Wait::kResources;
    if (stopped) {
      reason = Wait::kBackfillOff;
    } else if (spec.gang) {
      std::vector<GangGroup> groups;
      if (starts + n > config.max_starts_per_pass) {
        reason = Wait::kStartLimit;
      } else if (pipeline.PlaceGang(ask, n, spec.ranks_per_node, job.pinned_node, state, &groups)) {
        auto finish_of = [&](int node) { return ask.FinishOn(state, node); };
        AppendGangRows(snapshot, job, groups, now, true, finish_of, &plan.placements);
        for (const auto& g : groups)
          for (const auto& grant : g.ranks) add_release(finish_of(g.node), grant, qi);
        placed = n;
      } else {
        blocked = true;
      }
    } else {
      int allowed = n;
      if (spec.array.throttle > 0) allowed = std::min(allowed, spec.array.throttle - running[qi]);
      allowed = std::max(0, std::min(allowed, config.max_starts_per_pass - starts));
      const bool memo_ok = job.pinned_node < 0;
      static const std::string kAnyUser;
      const std::string& memo_user = state.user_restricted() ? spec.user : kAnyUser;
      for (; placed < allowed; ++placed) {
        if (memo_ok && memo.Fails(ask.shape, ask.duration_ms, memo_user)) {
          blocked = true;
          break;
        }
        int node = pipeline.SelectNode(ask, state, job.pinned_node);
        if (node < 0) {
          if (memo_ok) memo.Add(ask.shape, ask.duration_ms, memo_user);
          blocked = true;
          break;
        }
        const TimeMs finish = ask.FinishOn(state, node);
        Grant g = state.Take(node, ask.shape, finish);
        plan.placements.push_back(
            RowFor(snapshot, {job.id, job.pending_tasks[placed]}, g, now, finish, true));
        add_release(finish, g, qi);
      }
      if (!blocked && placed < n) {
        reason = spec.array.throttle > 0 && running[qi] + placed >= spec.array.throttle
                     ? Wait::kThrottle
                     : Wait::kStartLimit;
      }
    }
    starts += placed;
    running[qi] += placed;
    if (placed == n) continue;

    if (blocked && head < 0) {
      head = static_cast<int>(waiting.size());
      head_id = job.id;
      reason = Wait::kResources;
      if (!config.backfill) {
        stopped = true;
      } else {
        const int ranks = spec.gang ? n : 1;
        reservation = ReserveHead(pipeline, ask, spec.gang, ranks, spec.ranks_per_node,
                                  job.pinned_node, state, built_timeline());
        if (reservation) state.SetGuard(reservation->guard);
      }
    } else if (blocked) {
      reason = reservation ? Wait::kBehindReservation : Wait::kResources;
    }
    WaitingJob w;
    w.queue_index = qi;
    w.first_task = placed;
    waiting.push_back(w);
    reasons.push_back(reason);
  }
  state.ClearGuard();

  // Projection, reservation holder first.
  if (head > 0) {
    std::rotate(waiting.begin(), waiting.begin() + head, waiting.begin() + head + 1);
    std::rotate(reasons.begin(), reasons.begin() + head, reasons.begin() + head + 1);
  }
  ProjectionInputs in;
  in.snapshot = &snapshot;
  in.pipeline = &pipeline;
  in.shapes = std::move(shapes);
  in.running = &running;
  in.max_jobs = config.max_predicted_jobs;
  if (!waiting.empty() && config.max_predicted_jobs > 0)
    ProjectQueue(in, state, built_timeline(), waiting, &plan.placements);

  for (size_t i = 0; i < waiting.size(); ++i) {
    const WaitingJob& w = waiting[i];
    const PendingJob& job = q[w.queue_index];
    std::string why = Explain(reasons[i], *job.spec, config, head_id);
    if (w.first_start_ms >= 0) {
      why += "; predicted start in " + Seconds(w.first_start_ms - now);
      if (!w.complete) why += " (some tasks have no predicted start)";
    } else if (config.max_predicted_jobs == 0) {
      // Predictions off (the simulator): the reason alone.
    } else if (i >= static_cast<size_t>(config.max_predicted_jobs)) {
      why += "; no prediction beyond the first " + std::to_string(config.max_predicted_jobs) +
             " waiting jobs";
    } else {
      why += "; no predicted start (capacity does not free up on the predicted timeline)";
    }
    plan.unplaced.push_back({job.id, Status::Unschedulable(std::move(why))});
  }
  return plan;
}

}  // namespace muster::sched
