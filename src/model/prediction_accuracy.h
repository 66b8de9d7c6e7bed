// How good the predictions made at submit were, over finished jobs: per job class and overall,
// the run-time error (median and p90 of |predicted - actual| / actual), the start-time error
// (median and p90 of |predicted start - actual start|, in seconds), the bias (the median of the
// signed relative run-time error: > 0 when runs were predicted too long) and the coverage of the
// run-time interval (the share of actual run times inside it). Used by `muster schedule
// --accuracy` (over the jobs it lists) and by the coordinator's /metrics (over the jobs it keeps).
// Quantiles interpolate linearly between order statistics. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace muster::model {

struct PredictedRun {
  std::string job_class;
  double predicted_start_s = 0;  // after submit
  double actual_start_s = 0;
  double predicted_run_s = 0;
  double actual_run_s = 0;
  bool has_interval = false;  // [low_s, high_s] of the run time
  double low_s = 0, high_s = 0;
};

// A finished job as `muster schedule --accuracy` and /metrics both have it: times in epoch ms.
struct FinishedJob {
  std::string job_class;
  // Its tasks run together (one task, or a gang; RunsTogether): then the interval, one task's
  // run time, is set against its run, and its run is its longest task's, without the launch.
  bool together = false;
  int64_t submit_ms = 0, predicted_start_ms = 0, predicted_finish_ms = 0;
  int64_t start_ms = 0, end_ms = 0;
  double low_s = 0, high_s = 0;  // the interval predicted at submit; none when high_s <= low_s
  double longest_task_s = -1;    // the longest task attempt's run; < 0: not known
};
inline bool RunsTogether(bool gang, bool array, int tasks) { return gang || (!array && tasks <= 1); }
PredictedRun ToPredictedRun(const FinishedJob& j);

struct ErrorSummary {
  int n = 0;
  double median = 0, p90 = 0;
};

struct Accuracy {
  std::string job_class;  // "" = every class together
  int jobs = 0;
  ErrorSummary runtime_rel_error;
  ErrorSummary start_error_s;
  double bias = 0;
  int interval_jobs = 0;         // runs with an interval
  double interval_coverage = 0;  // of those, the share whose actual run time is inside it
};

// The q-quantile (0..1) of `values` (linear interpolation; 0 when empty).
double Quantile(std::vector<double> values, double q);

// Overall first, then one entry per class in name order. Runs with a non-positive or
// non-finite actual run time count for the start error only; actual run times under 1 ms count
// as 1 ms (so a trivial task does not divide by zero).
std::vector<Accuracy> SummarizeAccuracy(const std::vector<PredictedRun>& runs);

}  // namespace muster::model
