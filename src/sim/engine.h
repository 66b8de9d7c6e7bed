// Discrete-event replay of a workload through the online scheduler (sched::Schedule) on a
// virtual clock.
//
// Events: job arrivals (the workload in submit order), completions, and LAS demotions (a running
// job crossing a service threshold). All events at one timestamp form a batch: completions and
// demotions first, then arrivals, then scheduling passes. A pass hands sched::Schedule a snapshot
// that the engine keeps up to date incrementally (node free GPUs, running tasks with their exact
// finish times, the queue) and applies the Plan's start-now rows, checking each against the
// virtual cluster as the coordinator's plan applier would.
//
// Jobs: a job of g GPUs is a gang of g one-GPU ranks (all start together, possibly over several
// nodes; the scorer of --placement decides how they spread). Its run time is its trace duration
// divided by the slowest speed among its nodes, times multi_node_slowdown when it spans more than
// one node. The scheduler's predicted durations are the trace's (oracle) durations.
//
// Cost control: a pass is skipped when it cannot start anything (no free GPU, or every queued job
// needs more GPUs than are free; exact, since a rank needs one GPU and no CPU or memory), and the
// scheduler sees at most `queue_view` queued jobs per pass: the first ones in the policy's own
// order (submit time for fifo; remaining time for sjf/srtf; priority; LAS level; for fairshare the
// oldest jobs of every user in turn). When the view was cut and the pass started something, the
// engine runs another pass at the same instant. Jobs beyond the view cannot be backfilled in that
// pass; with queue_view >= the queue's length the replay is exact. Optionally (pass_interval_ms)
// passes run on a fixed grid instead of at every event batch, which bounds the number of passes
// for runs with millions of jobs.
//
// Load balancer (SimOptions::balancer, mode != off): on the grid first submission + k x period
// (only while work is running or queued) the engine hands balance::Balancer::Decide its snapshot
// and a plan it computes with its own scheduler registries (with predicted rows, so the balancer
// sees reservations), then applies the moves that have apply = true, in order:
//   migrate   the job (checkpointable only; SimJob::checkpointable) is stopped, keeps its
//             remaining work, and restarts at once on the target node (GPUs the balancer named
//             when free, else the lowest free ones; if the target lacks room the move is dropped
//             and ForgetMove'd). It first pays `default_move_cost.total_s()` of lost time holding
//             the target GPUs: that time counts as migration overhead, not as work (busy GPU-
//             seconds stay equal to the trace's work). If it cannot start at once it is requeued
//             pinned to the target.
//   steal / retarget  a queued job whose every rank is listed starts on the target now when it
//             has room, else it is pinned there (PendingJob::pinned_node) until it starts.
// A scheduling pass follows the moves. Dry-run counts the proposed moves and applies none.
//
// Pure: no I/O, clock or threads; the same inputs give the same result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "balance/balancer.h"
#include "core/status.h"
#include "sim/cluster_config.h"
#include "sim/metrics.h"
#include "sim/submit_predictions.h"
#include "sim/workload.h"

namespace muster::sim {

// The balancer configuration the simulator starts from: mode off (BalancerConfig defaults to
// dry-run), a 60 s period and a 30 + 30 s migration cost.
balance::BalancerConfig DefaultSimBalancer();

struct SimOptions {
  std::string policy = "fifo";             // see SimPolicyNames()
  bool backfill = false;                   // EASY backfill in sched::Schedule
  std::string placement = "consolidated";  // consolidated | scattered
  double multi_node_slowdown = 1.0;        // >= 1; applied to jobs spanning several nodes
  // A job that fits on the largest node must run on one node (its gang gets ranks_per_node =
  // GPUs); larger jobs still spread. With it, scattered free GPUs can block a job
  // (fragmentation), which the balancer's defragmentation addresses.
  bool single_node_jobs = false;
  std::vector<double> las_thresholds_gpu_s = {3600, 36000};  // ascending
  int queue_view = 256;                                      // >= 1
  // 0: a pass after every batch of simultaneous events (exact event-driven replay). > 0: passes
  // only at multiples of this interval after the first submission, and only when something
  // happened since the last pass, like a coordinator that schedules periodically; starts are
  // delayed by up to the interval. For very large runs.
  DurationMs pass_interval_ms = 0;
  int series_buckets = 512;
  DurationMs series_width_ms = 60'000;  // initial bucket width; doubles as needed
  int cdf_points = 200;
  bool keep_outcomes = false;  // fill SimResult::outcomes (tests)
  // Load balancer driven by the engine (see the file comment); mode off by default.
  balance::BalancerConfig balancer = DefaultSimBalancer();
  // Predict each job's start and run time at its submit, with muster's calibrator and two
  // baselines, and report their errors (submit_predictions.h). The schedule itself does not
  // change: the passes still see the trace's durations.
  bool predict = false;
  int predict_horizon = 10000;  // queued jobs a start prediction looks through (as the daemon)
  // The run times the scheduler sees (backfill reservations, sjf and srtf order): "oracle" (the
  // trace's, exact), or a predictor of submit_predictions.h, "muster", "mean_so_far" or
  // "last_two_of_class", each as it predicted the job at its submit (a running job's
  // predicted finish is its start plus that, or now + 1 s once that has passed).
  std::string durations = "oracle";
};

// What happened to one job (index as in the workload).
struct JobOutcome {
  TimeMs submit_ms = 0;
  TimeMs first_start_ms = -1;
  TimeMs finish_ms = -1;
  int completions = 0;  // 1 for a finished job
  int starts = 0;       // 1 + resumptions after preemption
  int preemptions = 0;
  int max_gpus_held = 0;            // most GPUs the job ever held at once
  int max_nodes = 0;                // most nodes it spanned
  double gpu_seconds = 0;           // GPUs x seconds held, over all its runs
  bool rejected = false;            // larger than the cluster
  int migrations = 0;               // balancer migrations applied to this job
  double overhead_gpu_seconds = 0;  // GPUs x seconds lost to checkpoint + restart
};

struct SimResult {
  std::string policy;
  bool backfill = false;
  int total_gpus = 0;
  int64_t jobs = 0;
  int64_t completed = 0;
  int64_t rejected = 0;
  int64_t unfinished = 0;                          // still queued when events ran out (should be 0)
  Distribution jct_s;                              // finish - submit
  Distribution queue_delay_s;                      // first start - submit
  std::vector<std::pair<double, double>> jct_cdf;  // (JCT s, fraction)
  double makespan_s = 0;                           // last finish - first submit
  double busy_gpu_seconds = 0;                     // sum over jobs of GPUs x time held
  double utilization = 0;                          // busy_gpu_seconds / (total GPUs x makespan)
  double mean_jain = 1;  // mean of the sampled Jain index of per-node load
  int64_t preemptions = 0;
  int64_t multi_node_jobs = 0;  // jobs that ran on more than one node at least once
  int64_t events = 0;           // arrivals + completions + demotions + preemptions
  int64_t passes = 0;           // sched::Schedule calls
  int64_t skipped_passes = 0;   // batches where no pass could start anything
  int64_t max_queue = 0;
  std::vector<SeriesPoint> series;
  DurationMs series_width_ms = 0;
  TimeMs origin_ms = 0;              // first submit
  std::vector<JobOutcome> outcomes;  // only with SimOptions::keep_outcomes
  // Load balancer (all zero when it is off).
  std::string balancer = "off";  // off | dry-run | on
  std::string durations = "oracle";  // what the scheduler took run times to be (SimOptions)
  int64_t balance_periods = 0;   // Decide calls that were due
  int64_t migrations = 0;        // applied migrate moves
  int64_t started_moves = 0;     // applied steal/retarget moves that started a job now
  int64_t pinned_moves = 0;      // applied steal/retarget moves that pinned a queued job
  int64_t dropped_moves = 0;     // moves that no longer matched the cluster (ForgetMove'd)
  int64_t proposed_moves = 0;    // dry-run: moves the balancer returned with apply = false
  double migration_overhead_gpu_seconds = 0;  // GPUs x checkpoint/restart time of migrations
  // With SimOptions::predict: how good the predictions made at submit were.
  std::optional<PredictionReport> prediction;
};

// Replays `w` on cluster `c`. kInvalidArgument for bad options; kInternal if the scheduler returns
// a plan that the virtual cluster cannot apply (a scheduler bug).
Result<SimResult> Simulate(const Workload& w, const ClusterConfig& c, const SimOptions& o);

// Checks options without running (policy, placement, slowdown, thresholds, queue_view).
Status ValidateOptions(const SimOptions& o);

}  // namespace muster::sim
