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
// Pure: no I/O, clock or threads; the same inputs give the same result.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "sim/cluster_config.h"
#include "sim/metrics.h"
#include "sim/workload.h"

namespace muster::sim {

struct SimOptions {
  std::string policy = "fifo";             // see SimPolicyNames()
  bool backfill = false;                   // EASY backfill in sched::Schedule
  std::string placement = "consolidated";  // consolidated | scattered
  double multi_node_slowdown = 1.0;        // >= 1; applied to jobs spanning several nodes
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
};

// What happened to one job (index as in the workload).
struct JobOutcome {
  TimeMs submit_ms = 0;
  TimeMs first_start_ms = -1;
  TimeMs finish_ms = -1;
  int completions = 0;  // 1 for a finished job
  int starts = 0;       // 1 + resumptions after preemption
  int preemptions = 0;
  int max_gpus_held = 0;   // most GPUs the job ever held at once
  int max_nodes = 0;       // most nodes it spanned
  double gpu_seconds = 0;  // GPUs x seconds held, over all its runs
  bool rejected = false;   // larger than the cluster
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
};

// Replays `w` on cluster `c`. kInvalidArgument for bad options; kInternal if the scheduler returns
// a plan that the virtual cluster cannot apply (a scheduler bug).
Result<SimResult> Simulate(const Workload& w, const ClusterConfig& c, const SimOptions& o);

// Checks options without running (policy, placement, slowdown, thresholds, queue_view).
Status ValidateOptions(const SimOptions& o);

}  // namespace muster::sim
