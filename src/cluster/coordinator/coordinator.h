// The coordinator's brain: in-memory state of jobs, tasks and nodes (JobTable, NodeRegistry,
// ClusterState), kept durable through the StateStore, driven by user requests, agent messages
// and a scheduling loop. The gRPC layer (server.h) only translates; everything that decides
// lives here.
//
// Lifecycle of a task (attempt numbers make every launch unique; every change goes through
// JobTable and so through the core state machine):
//   pending --(plan applier: persist attempt+1, then send Launch)--> launching
//   launching --(agent: running)--> running --(agent: succeeded|failed)--> done or retried
//   failed/lost/running --(requeue or retry budget left)--> pending (next launch: new attempt)
// Events, progress and logs whose attempt (or node) is not the task's current one are ignored.
//
// Scheduling loop (one thread): on a kick (submit, task end, node join, cancel) or every
// schedule_period_ms: check liveness, build a sched::ClusterSnapshot under the lock (the nodes
// and free capacity ClusterState keeps; queue = pending tasks of jobs whose dependencies all
// succeeded, at most max_tasks_offered_per_job of an array between prediction passes), call
// sched::Schedule without the lock, then apply the plan with sched::ApplyPlan (re-checked against
// the current state, gangs all-or-nothing), mark the tasks launching with a fresh attempt,
// persist, wait for each task's own write, and only then send Launch (if the task is still
// launching with that attempt on the same agent link; a gang only if every rank was stored).
// Predictions of prediction passes are kept for GetSchedule/ListJobs.
//
// Retries: a task failure (non-zero exit) consumes one of JobSpec::max_retries. A node loss
// requeues the task without consuming max_retries, at most max_lost_requeues times per task
// (a gang counts one loss once for the whole gang); beyond that the task fails. A gang whose
// rank fails or is lost gets Kill for its other ranks; once none is running, the whole gang is
// retried (all ranks, new attempts) or failed.
//
// Failure detector and leases: every answered heartbeat renews the node's lease
// (heartbeat_timeout_ms from the heartbeat's sending; the agent's fence stops its tasks when it
// runs out, even if the agent itself is frozen). A connected node is lost when it has been silent
// for the lease plus fence_grace_ms plus a margin (NodeRegistry::LostAfterMs): by then none of
// its tasks can still be running, so requeueing them cannot run an attempt twice. Then its link
// is closed, its active tasks are requeued and its capacity leaves the schedule. Nodes known from
// the store after a restart get max(lost_node_timeout_ms, LostAfterMs) from the start to
// re-register. A coordinator that was itself paused (its liveness checks stopped for more than
// half a lease) gives every node a fresh lease from the moment it resumes.
// On (re)registration, reported tasks matching the current attempt are adopted, others are listed
// in RegisterReply.kill; active tasks of that node it did not report get heartbeat_timeout_ms to
// show up (an agent re-sends end events after registering) before they count as lost.
//
// Load balancer (balancing.cc, docs/balancer.md): heartbeats feed a bounded window of usage per
// node (usage_window_ms); once per balancer period the scheduling pass hands its snapshot and
// plan to balance::Balancer, whose evaluation, trend and moves are kept for GetBalance and
// /metrics, with one downsampled load row per node per usage_history_interval_ms in the store.
// In mode `on` moves are applied like a plan, each re-checked against the current state:
// migrate = Kill (grace) every task of the checkpointable job, requeue each as it ends without
// counting a failure or retry, pinned to the target node; retarget = pin the pending job. Pins
// expire after pin_timeout_ms. While an earlier move is still in flight (a job stopping for a
// migration, or a pinned job not yet started) new moves are dropped (ForgetMove).
//
// Thread-safety: all public methods are thread-safe; one mutex (mu_) guards the state, and store
// writes are queued under it so the database follows the in-memory order. The annotations are
// checked by clang (scripts/check-thread-safety).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "balance/balancer.h"
#include "cluster/common/histogram.h"
#include "cluster/common/mutex.h"
#include "cluster/coordinator/balance_trend.h"
#include "cluster/coordinator/cluster_state.h"
#include "cluster/coordinator/identity.h"
#include "cluster/coordinator/job_table.h"
#include "cluster/coordinator/limit_budget.h"
#include "cluster/coordinator/log_store.h"
#include "cluster/coordinator/node_registry.h"
#include "cluster/coordinator/views.h"
#include "cluster/proto/muster.pb.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/store/state_store.h"
#include "core/clock.h"
#include "core/thread_annotations.h"
#include "model/calibration.h"
#include "sched/placement_registry.h"
#include "sched/preemption_order.h"
#include "sched/queue_policy.h"
#include "sched/scheduler.h"

namespace muster::cluster {

// "2026-12-01 23:12:52 UTC" (balancing.cc).
std::string UtcTime(TimeMs ms);
// A history line that records a prediction ("predicted at submit: ...", "re-predicted at ...").
bool IsPredictionLine(const std::string& line);

struct CoordinatorOptions {
  std::string state_dir;                    // holds state.db, logs/, checkpoints/
  AuthOptions auth;                         // who may call (identity.h)
  // Jobs owned by root run as root on root agents; refused at submit unless this is set.
  bool allow_root_jobs = false;
  DurationMs heartbeat_interval_ms = 1000;  // told to agents
  DurationMs heartbeat_timeout_ms = 10000;
  DurationMs lost_node_timeout_ms = 30000;
  // A node's lease is heartbeat_timeout_ms: it stops its own tasks when that long passes after
  // its last answered heartbeat, escalating to SIGKILL after fence_grace_ms (see
  // RegisterReply.lease_ms). The coordinator judges it lost only after lease + grace + margin.
  DurationMs fence_grace_ms = 5000;
  // A launch its agent has not confirmed ("running" or an end) by then is requeued (and the
  // agent told to kill that attempt, should it start after all).
  DurationMs launch_confirm_timeout_ms = 30000;
  // Task output kept per stream of an attempt (JobSpec::log_limit_mib): the default, and the
  // most a job may ask for.
  MiB default_log_limit_mib = 64;
  MiB max_log_limit_mib = 1024;
  // Time limit of a job that sets none, and the most one may set (JobSpec::time_limit_ms);
  // 0 = none.
  DurationMs default_time_limit_ms = 0;
  DurationMs max_time_limit_ms = 0;
  DurationMs kill_grace_ms = 10000;
  DurationMs schedule_period_ms = 200;
  // After a pass that started tasks, the next waits this long however many kicks come (a burst
  // of ends and submissions shares it); after one that started nothing, a kick is served at once.
  DurationMs min_pass_gap_ms = 5;
  // Passes that predict every queued task's start and finish (and refresh the reasons) run at
  // most once per period; the passes between them only start what fits now, offering the
  // scheduler at most max_tasks_offered_per_job tasks of each array, so their cost does not
  // grow with the queue. A newly submitted job makes the next pass a prediction pass.
  DurationMs prediction_period_ms = 1000;
  size_t max_tasks_offered_per_job = 4096;
  double default_task_seconds = 60;  // prediction without history or estimate
  int max_lost_requeues = 3;
  int master_port_base = 29500;  // MASTER_PORT = base + (job*97 + attempt*31) % span
  int master_port_span = 10000;
  sched::SchedulerConfig scheduler;
  // Where the durable state lives (open_store.h): "" = <state_dir>/state.db (SQLite),
  // sqlite://PATH, or postgres://USER@HOST:PORT/DB.
  std::string store_url;
  StoreOptions store;
  // Load balancer (see balancing.cc). period_ms etc. in balancer; mode off still evaluates the
  // metrics each period (for GetBalance and /metrics) but never decides.
  balance::BalancerConfig balancer;
  DurationMs usage_window_ms = 60000;               // heartbeat readings kept per node
  DurationMs usage_history_interval_ms = 10000;     // one stored load row per node per interval
  DurationMs usage_history_keep_ms = 24 * 3600000;  // stored rows older than this are pruned
  DurationMs pin_timeout_ms = 120000;               // a balancer pin not started by then is dropped
  // Finished jobs (records, coordinator logs, checkpoints) are removed this long after they end
  // (retention.cc); 0 keeps them forever. Checked every gc_period_ms.
  DurationMs retention_ms = 14LL * 86400 * 1000;
  // Preemption (preemption.cc): "off", "priority", "srtf" or "las". A pending job that has
  // waited preempt_after_ms and is not predicted to start within as long stops running tasks of
  // jobs that come after it in the policy's order (stop reason "preempt"): of lower priority
  // ("priority", needs the priority queue policy; only admins submit jobs of priority above 0
  // then), with more predicted time left ("srtf", needs "sjf"), or of a higher level of
  // attained GPU service ("las", needs "las"). They are requeued without using a retry (resuming
  // from their checkpoint), or cancelled when their job says so (JobSpec::cancel_on_preempt).
  std::string preemption = "off";
  DurationMs preempt_after_ms = 30000;
  // The "las" queue policy's levels, in GPU-seconds of attained service (as `muster sim`'s).
  std::vector<double> las_thresholds_gpu_s = {3600, 36000};
  // Fair share (limits.cc): each user's past usage counts with this half-life; 0 = only what
  // the user holds now.
  DurationMs fairshare_half_life_ms = 7LL * 86400 * 1000;
  DurationMs gc_period_ms = 3600 * 1000;
  // The trend of balance metrics (balance_trend.h): recent evaluations in full, then hours of
  // per-minute means.
  BalanceTrendOptions balance_trend;
};

// Ok, or InvalidArgument naming the mismatch: each preemption order needs its queue policy
// (priority: priority; srtf: sjf; las: las), known to the scheduler, and las thresholds that
// ascend from above 0. Open checks it too.
Status CheckPreemptionOptions(const CoordinatorOptions& o);

// What a garbage collection removed (or, dry, would remove).
struct GcReport {
  TimeMs before_ms = 0;  // jobs that ended before this
  int64_t jobs = 0;
  int64_t tasks = 0;
  int64_t bytes = 0;     // of log files and checkpoints
  int64_t kept_for_dependents = 0;  // old enough, but a job with tasks to start names it (--after)
};

class Coordinator {
 public:
  // Opens the state dir (creating it), loads the store and rebuilds the in-memory state.
  // `clock` must outlive the coordinator.
  static Result<std::unique_ptr<Coordinator>> Open(CoordinatorOptions options, const Clock* clock);
  // The same on a store the caller opened (tests: a MemoryStore with injected failures). The
  // state dir still holds logs and checkpoints.
  static Result<std::unique_ptr<Coordinator>> Open(CoordinatorOptions options, const Clock* clock,
                                                   std::unique_ptr<StateStore> store);
  ~Coordinator();  // stops the loop and flushes the store

  // Starts / stops the scheduling loop thread. Tests may instead call Tick() by hand.
  void Start();
  void Stop();
  // One iteration of the loop: liveness check, then a scheduling pass with its plan applied.
  // True if the pass started tasks.
  bool Tick();

  // ---- user API (Coordinator service)
  // The user API speaks the core types of views.h; server.cc converts at the wire.
  // Validates, persists (returns after the commit) and queues a job. The spec's user is its
  // owner, whom the caller has already authorized.
  Result<JobId> Submit(JobSpec spec);
  // One job with its tasks; NotFound for an unknown id.
  Result<JobView> GetJob(JobId id) const;
  // Jobs by ascending id; `limit` keeps the most recent ones.
  JobListView ListJobs(const JobQuery& query) const;
  // Cancels each job, then each single task of an array (a gang's ranks stop together, so a
  // gang's task is refused). One result per job, then per task, in order; each committed
  // before the reply.
  std::vector<ChangeResult> Cancel(const std::vector<JobId>& jobs,
                                   const std::vector<TaskRef>& tasks);
  NodeListView ListNodes() const;
  // Every unfinished task (and with include_finished every task) of every job.
  ScheduleView GetSchedule(bool include_finished) const;
  // The balancer's last evaluation, trend, moves and notes, with queue counts now.
  // `trend_points`: the newest points of the trend to include; 0 = all kept.
  BalanceView GetBalance(size_t trend_points = 0) const;
  // The same in Prometheus text exposition format (for GET /metrics).
  std::string MetricsText() const;

  // ReadLogs support: the task indices to read (one, or all for index -1) and whether each has
  // finished for good (no more output will come). NotFound for an unknown job or task.
  Result<std::vector<std::pair<int, bool>>> LogTargets(JobId job, int task_index) const;
  const LogStore& logs() const { return logs_; }

  // ---- agent API (AgentLink service)
  // Handles a Register: refuses (non-ok) a duplicate connected name; otherwise sends the
  // RegisterReply (with the kill list) through `channel`, then any pending Kill.
  Status RegisterAgent(const v1::Register& reg, const std::string& peer_host,
                       std::shared_ptr<AgentChannel> channel);
  // Handles every later message of that agent; ignored if `channel` is no longer its link.
  void OnAgentMessage(const std::string& node, const AgentChannel* channel,
                      const v1::AgentMessage& msg);
  // Cuts the link of `node`'s agent (its credential was revoked); the stream ends and the node is
  // then handled as any disconnected one. False if it had no link.
  bool DropAgentLink(const std::string& node);
  // The agent's stream ended; its node stays schedulable-later until its liveness deadline.
  void OnAgentDisconnected(const std::string& node, const AgentChannel* channel);

  // Wakes the scheduling loop.
  void Kick();

  // ---- for tests: illegal state changes refused so far (must stay 0), and whether the
  // incrementally kept free capacity and task counts equal a recomputation from every task.
  int IllegalTransitions() const;
  Status CheckInvariants() const;
  StateStore& store() { return *store_; }
  const CoordinatorOptions& options() const { return options_; }

  // Ok, or why the coordinator is read-only: its store failed a write (a full disk, an I/O
  // error). Then submit, cancel, user changes, gc and balancer moves are refused with that line,
  // nothing new starts, reads go on, and agents' reports are still taken. Tick probes the store;
  // once a write succeeds it writes every job, task and node again (what failed meanwhile) and
  // takes changes again.
  Status Writable() const;

  // Removes every finished job that ended older_than_ms ago or earlier and that no unfinished job
  // depends on:
  // its store rows (their ids are never reused), its log files and its checkpoints. With dry_run
  // only counts. Runs by itself every gc_period_ms when retention_ms > 0 (Tick).
  Result<GcReport> CollectGarbage(DurationMs older_than_ms, bool dry_run);

  // Drain (drain.cc): no new task starts on `node`; those running there finish, or with
  // `migrate` its checkpointable jobs are stopped to resume elsewhere (as a balancer migration:
  // no retry used). The drain, with `reason` and `by`, is committed before the reply and kept
  // across restarts; draining a drained node updates the reason. NotFound for an unknown node,
  // InvalidArgument without a reason, the read-only condition while the store cannot write.
  Result<DrainView> DrainNode(const std::string& node, const std::string& reason, bool migrate,
                              const std::string& by);
  // Holds (or releases) each job: a held job starts no task until released; tasks already
  // running go on. One result per id, in order; committed before the reply. `by` is shown.
  std::vector<ChangeResult> HoldJobs(const std::vector<JobId>& ids, bool release,
                                     const std::string& by);
  // Stops each running job's active tasks (stop reason "requeue"); they run again as new
  // attempts, using no retry, as after a migration. Pending jobs are refused (nothing to do).
  std::vector<ChangeResult> RequeueJobs(const std::vector<JobId>& ids, const std::string& by);
  // Ends a drain: the node takes tasks again (when its agent is connected).
  Result<DrainView> UndrainNode(const std::string& node);
  Authenticator& auth() { return auth_; }
  // The owner (JobSpec::user) of a job; NotFound for an unknown one.
  Result<std::string> JobOwner(JobId id) const;
  // Appends to the audit log (queued in order with the changes it records; not waited for).
  void Audit(const Caller& caller, std::string action, std::string target, const Status& result);
  Result<std::vector<AuditRecord>> AuditLog(TimeMs since_ms, const std::string& identity,
                                            int limit) const;
  // Accounting (accounting.cc): the ended attempts that ended at or after since_ms from the
  // store, then the attempts running now (end_ms 0, measured so far), of `user` and job `job`
  // unless empty / 0.
  Result<std::vector<AccountingRow>> Accounting(TimeMs since_ms, const std::string& user,
                                                JobId job) const;
  // The state of a job still known (nullopt once it is removed).
  std::optional<JobState> JobStateOf(JobId job) const;
  // Limits (limits.cc). Sets (replaces) a user's or group's limit, committed before the reply;
  // InvalidArgument for a bad kind, name or value, the read-only condition while the store
  // cannot write.
  Status SetLimit(LimitRecord limit);
  // NotFound if there is none.
  Status ClearLimit(const std::string& kind, const std::string& name);
  std::vector<LimitRecord> Limits() const;
  // Each user's fair share now: what the user's tasks hold (dominant share of the cluster) plus
  // the past usage, decayed (share-seconds / the half-life's seconds). Users with none left out.
  std::map<std::string, double> UserShares() const;

 private:
  struct PendingLaunch {
    std::string node;
    std::shared_ptr<AgentChannel> channel;
    v1::Launch launch;
    StateStore::Ticket stored = 0;  // the write of the task's new attempt
  };

  Coordinator(CoordinatorOptions options, const Clock* clock, std::unique_ptr<StateStore> store);
  void Recover(StoreContents contents) REQUIRES(mu_);
  // Notices failed store writes (turning read-only) and, while read-only, probes the store and
  // recovers (Writable). True when writable.
  bool CheckStore();
  void Loop();

  // ---- state helpers (coordinator.cc)
  // Changes a task's state through the JobTable (an illegal change is refused and counted).
  void Transition(JobRecord& j, TaskRecord& t, TaskState to) REQUIRES(mu_);
  StateStore::Ticket PersistTask(const JobRecord& j, const TaskRecord& t) REQUIRES(mu_);
  StateStore::Ticket PersistJob(const JobRecord& j) REQUIRES(mu_);
  // Derives the job state from its task counts, persists a change, keeps jobs_.active() in sync.
  void Reconcile(JobRecord& j) REQUIRES(mu_);
  // `reason` (Kill.reason) reaches the task in its stop-reason file.
  void SendKill(const std::string& node, JobId job, const TaskRecord& t, DurationMs grace_ms,
                const std::string& reason) REQUIRES(mu_);
  Status CheckSubmittable(const JobSpec& spec) const REQUIRES(mu_);
  // Calibration key of the device a task of `spec` uses on `node`: its GPU model, or "cpu" for
  // tasks without GPUs (and unknown nodes).
  std::string DeviceKey(const JobSpec& spec, const std::string& node) const REQUIRES(mu_);
  double PredictSeconds(const JobSpec& spec, const std::string& device) const REQUIRES(mu_);
  // What the calibrator is asked about a job of `spec` on `device`, and told about a run of its
  // task `t` that succeeded.
  model::PredictionQuery QueryOf(const JobSpec& spec, const std::string& device) const
      REQUIRES(mu_);
  model::Observation RunOf(const JobSpec& spec, const TaskRecord& t) const REQUIRES(mu_);
  // A task of `j` succeeded: the calibrator learns its run, and with `score` (the job's first
  // task to succeed: one score per job, so that a big array does not fill the adaptive
  // coverage's window alone) first scores the interval predicted at the job's submit against it.
  void ScoreAndObserve(const JobRecord& j, const TaskRecord& t, bool score) REQUIRES(mu_);
  // The device a task of `spec` most likely gets: that of the first schedulable node that could
  // ever hold it ("cpu" for tasks without GPUs; "" when no node could).
  std::string LikelyDevice(const JobSpec& spec) const REQUIRES(mu_);

  // "ready", "draining", "drained", "lost", "unconfirmed" or "unreachable" (NodeInfo.state).
  std::string NodeStateText(const NodeEntry& n) const REQUIRES(mu_);
  // Checks each id (known, unfinished, the store writable), applies `change` to its job under
  // the lock (an error is that job's answer), then answers each once its ticket is committed.
  std::vector<ChangeResult> ChangeJobs(const std::vector<JobId>& ids,
                             const std::function<Result<StateStore::Ticket>(JobRecord&)>& change)
      EXCLUDES(mu_);
  // Stops an active task so that it runs again as a new attempt (a migration, a drain, a
  // requeue): Kill with `reason`, then pending when it ends, using no retry.
  void StopToMove(JobRecord& j, TaskRecord& t, const std::string& reason) REQUIRES(mu_);
  // Stops the checkpointable jobs running on `node` to move them off it; how many.
  int MigrateOff(const std::string& node, const std::string& why) REQUIRES(mu_);

  // ---- task outcomes (events.cc)
  void HandleEvent(const std::string& node, const v1::TaskEvent& ev) REQUIRES(mu_);
  void TaskSucceeded(JobRecord& j, TaskRecord& t, TimeMs when) REQUIRES(mu_);
  // `failed`: the state a failure that is not retried ends in (kFailed, or kOom for a task that
  // went over its memory limit).
  void TaskEndedBadly(JobRecord& j, TaskRecord& t, bool lost, int exit_code,
                      const std::string& message, TimeMs when,
                      TaskState failed = TaskState::kFailed) REQUIRES(mu_);
  // At its time limit: timeout, or (requeue_on_timeout) pending again; a gang stops whole.
  void TaskTimedOut(JobRecord& j, TaskRecord& t, int exit_code, const std::string& message,
                    TimeMs when) REQUIRES(mu_);
  // A rank of a gang ended (`what`: "failed: ...", "lost: ...", "timed out: ..."): the gang
  // stops whole, its other ranks are stopped; nothing if it is stopping already.
  void StopGang(JobRecord& j, const TaskRecord& t, const std::string& what, bool lost,
                bool timeout) REQUIRES(mu_);
  void MaybeFinishGangStop(JobRecord& j) REQUIRES(mu_);
  void CheckLiveness() REQUIRES(mu_);  // failure detector
  void MarkNodeLost(NodeEntry& n, const std::string& why) REQUIRES(mu_);

  // ---- scheduling (scheduling.cc)
  struct PassOutcome {
    bool predicted = false;  // a prediction pass (every pending task offered, predictions made)
    size_t offered = 0;      // pending tasks given to the scheduler
    size_t launched = 0;     // launches sent or attempted
  };
  PassOutcome SchedulingPass() EXCLUDES(mu_);
  // Fails or clears jobs waiting on dependencies; true if the job may be scheduled.
  bool DependenciesMet(JobRecord& j) REQUIRES(mu_);

  // ---- balancer (balancing.cc)
  void RecordUsage(NodeEntry& n, const v1::UsageSample& u, TimeMs now) REQUIRES(mu_);
  // ---- predictions (scheduling.cc)
  // After a prediction pass: keeps the first prediction of each job (submit_prediction, stored,
  // and a history line), and a history line when a later one moves its start or finish by more
  // than max(1 minute, 10% of the time to it), at most kMaxRepredictionLines per job.
  void RecordPredictions(TimeMs now) REQUIRES(mu_);
  static constexpr int kMaxRepredictionLines = 10;
  // ---- preemption (preemption.cc)
  // After a prediction pass: stops tasks that come later in the preemption order for the queued
  // jobs (the pass's queue, with its predicted durations) that wait too long.
  void Preempt(const std::vector<sched::PendingJob>& queued, TimeMs now) REQUIRES(mu_);
  // The job's place in the srtf or las order now (sched/preemption_order.h); for a pending job,
  // `predicted_ms` is the time one of its tasks is predicted to take.
  sched::OrderKey PreemptionKey(const JobRecord& j, const TaskRecord* running,
                                DurationMs predicted_ms, TimeMs now) const REQUIRES(mu_);
  // GPUs x ms the job has run: its ended attempts and its running tasks up to `now`.
  int64_t AttainedGpuMs(const JobRecord& j, TimeMs now) const REQUIRES(mu_);
  // Rebuilds attained_gpu_ms and resumable_ms of the unfinished jobs from accounting rows.
  void LoadAttained(const std::vector<AccountingRow>& rows) REQUIRES(mu_);
  // ---- limits and fair share (limits.cc)
  // Past usage decayed to `now`.
  void DecayPastUsage(TimeMs now) REQUIRES(mu_);
  // An attempt of `j` ran from start_ms to end_ms: adds it to its user's past usage.
  void AddPastUsage(const JobSpec& spec, TimeMs start_ms, TimeMs end_ms) REQUIRES(mu_);
  double PastShare(const std::string& user, TimeMs now) const REQUIRES(mu_);
  // Each user's dominant share (max over CPU, memory, GPUs) of `capacity` that its launching and
  // running tasks hold now; users holding nothing left out.
  std::map<std::string, double> HeldShares(const ScalarResources& capacity) const REQUIRES(mu_);
  // Loads the past usage from the accounting rows of the last ten half-lives (at Open).
  void LoadPastUsage(const std::vector<AccountingRow>& rows) REQUIRES(mu_);
  // ---- accounting (accounting.cc)
  // Adds a heartbeat's GPU readings to the meters of the attempts holding GPUs on the node.
  void MeterGpus(const std::string& node, const v1::UsageSample& u, TimeMs now) REQUIRES(mu_);
  // The row of an attempt that stops holding resources (going to `to`), metered so far.
  AccountingRow AttemptRow(const JobRecord& j, const TaskRecord& t, const std::string& state,
                           TimeMs end_ms) const REQUIRES(mu_);
  bool BalanceDue(TimeMs now) const;  // the scheduling pass should capture its snapshot
  void CaptureForBalancer(const sched::ClusterSnapshot& snap, const sched::Plan* plan);
  void BalancePass() EXCLUDES(mu_);  // evaluates / decides / applies with the captured snapshot
  // Windowed measured usage, parallel to snap.nodes.
  balance::MeasuredUsage MeasuredUsageFor(const sched::ClusterSnapshot& snap) const REQUIRES(mu_);
  // Re-checks and applies one move; "" if applied, else why not.
  std::string ApplyMove(const balance::Move& m, const std::vector<std::string>& names,
                        std::map<std::string, NodeFree>& free) REQUIRES(mu_);
  bool MoveInFlight() const REQUIRES(mu_);
  void AddHistory(JobRecord& j, const std::string& text) REQUIRES(mu_);
  // Clears expired or unusable pins.
  void ExpirePins(TimeMs now) REQUIRES(mu_);

  // ---- queries (queries.cc)
  JobView ViewJob(const JobRecord& j, bool with_tasks) const REQUIRES(mu_);
  TaskView ViewTask(const TaskRecord& t) const REQUIRES(mu_);

  const CoordinatorOptions options_;
  // The pass's placement plugins and queue policies (the defaults and "las"); never changed.
  const sched::PluginRegistry plugins_ = sched::PluginRegistry::Default();
  const sched::QueuePolicyRegistry policies_ =
      sched::PreemptivePolicies(options_.las_thresholds_gpu_s);
  const Clock* clock_;
  const TimeMs started_ms_;
  const TimeMs opened_wall_ms_;  // clock_->NowMs() when this coordinator opened its state
  std::unique_ptr<StateStore> store_;
  LogStore logs_;
  Authenticator auth_;

  mutable Mutex mu_;
  ClusterState cluster_ GUARDED_BY(mu_);      // free capacity, updated by jobs_
  JobTable jobs_ GUARDED_BY(mu_){&cluster_};  // jobs, tasks, their states
  // (user, request id) of submissions being stored (JobSpec::request_id): a retry meanwhile is
  // refused with kUnavailable.
  std::set<std::pair<std::string, std::string>> submitting_ GUARDED_BY(mu_);
  int64_t epoch_ = 0;  // restores of this state (StoreContents::epoch); set by Recover, at Open
  NodeRegistry nodes_ GUARDED_BY(mu_){
      // nodes, agent links, liveness
      {options_.heartbeat_interval_ms, options_.heartbeat_timeout_ms,
       options_.lost_node_timeout_ms, options_.fence_grace_ms},
      &cluster_,
      started_ms_};
  model::Calibrator calibrator_ GUARDED_BY(mu_);
  TimeMs last_prediction_ms_ GUARDED_BY(mu_) = 0;  // the last prediction pass
  // Jobs that were given a pin (balancer, preemption, recovery), for ExpirePins; one whose pin
  // is gone is dropped at its next look.
  std::set<JobId> pinned_ GUARDED_BY(mu_);
  // A job that could start at once was submitted since: the next pass predicts it, unless the
  // last prediction pass was dear (over kDearPredictionTasks pending tasks offered and over 1 ms:
  // then not before 3 of its durations have passed since it ended, so that a stream of
  // submissions over a long queue spends at most a quarter of the loop on predicting; the
  // periodic prediction pass still comes). A short queue is always predicted at once.
  bool new_jobs_ GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point next_new_job_prediction_ GUARDED_BY(mu_){};
  // (job, task, attempt) of late reports already written to their job's history.
  std::set<std::tuple<JobId, int, Attempt>> late_reports_ GUARDED_BY(mu_);
  // GPU readings of the running attempts that hold GPUs, summed from heartbeats (accounting.cc).
  struct AttemptMeter {
    Attempt attempt = 0;
    double util_sum = 0;  // of the readings of its GPUs that report utilization
    int64_t util_n = 0;
    double energy_j = 0;  // power x time over its GPUs that report power
    bool power_seen = false;
    TimeMs last_ms = 0;  // wall time of the last reading
  };
  std::map<TaskRef, AttemptMeter> meters_ GUARDED_BY(mu_);
  // Why a task is being cancelled by a preemption (--on-preempt cancel), until it ends: its
  // message then says so (preemption.cc, events.cc).
  std::map<TaskRef, std::string> preempt_cancels_ GUARDED_BY(mu_);
  // Limits by (kind, name) (table limits).
  std::map<std::pair<std::string, std::string>, LimitRecord> limits_ GUARDED_BY(mu_);
  // Fair share: each user's past usage in dominant-share-seconds, decayed to past_usage_ms_;
  // capacity_ is the connected nodes' capacity at the last scheduling pass.
  std::map<std::string, double> past_usage_ GUARDED_BY(mu_);
  TimeMs past_usage_ms_ GUARDED_BY(mu_) = 0;
  ScalarResources capacity_ GUARDED_BY(mu_);

  // Balancer state: balancer_ and the capture are used by the loop thread only.
  std::optional<balance::Balancer> balancer_;
  std::optional<sched::ClusterSnapshot> balance_snap_;
  std::optional<sched::Plan> balance_plan_;
  std::atomic<TimeMs> last_balance_ms_{0};
  // Latencies for /metrics (each Histogram locks itself): scheduling passes, submissions from the
  // call to the durable reply, and the store's commit part of them.
  Histogram pass_seconds_{Histogram::LatencyBounds()};
  Histogram submit_seconds_{Histogram::LatencyBounds()};
  Histogram commit_seconds_{Histogram::LatencyBounds()};
  mutable Mutex balance_mu_ ACQUIRED_AFTER(mu_);
  BalanceView balance_status_ GUARDED_BY(balance_mu_);
  BalanceTrend trend_ GUARDED_BY(balance_mu_);
  std::deque<BalanceMoveView> recent_moves_ GUARDED_BY(balance_mu_);
  std::map<std::string, int64_t> move_counts_ GUARDED_BY(balance_mu_);  // by outcome
  TimeMs last_usage_prune_ms_ = 0;
  TimeMs last_gc_ms_ = 0;  // Tick's thread only
  // Read-only mode (Writable): the store's failed-write count last seen, and why, if read-only.
  uint64_t seen_failed_writes_ GUARDED_BY(mu_) = 0;
  Status read_only_ GUARDED_BY(mu_);

  Mutex loop_mu_;
  std::condition_variable_any loop_cv_;
  bool kicked_ GUARDED_BY(loop_mu_) = false;
  bool stopping_ GUARDED_BY(loop_mu_) = false;
  std::thread loop_;
};

}  // namespace muster::cluster
