// Result metrics of a simulation run.
//
// Distribution summaries use the nearest-rank percentile (the ceil(p*n)-th smallest value) and
// the usual median (mean of the two middle values for an even count).
// Series: a fixed budget of equal-width time buckets starting at the first submission. Levels
// (busy GPUs, queued jobs) are step functions integrated exactly over each bucket, so a bucket
// holds their time-weighted mean; a sampled value (Jain's index of per-node load) is taken at each
// bucket's end. When the run outgrows the budget, neighbouring buckets are merged pairwise and the
// width doubles, so memory stays bounded whatever the run's length.
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace muster::sim {

struct Distribution {
  int64_t count = 0;
  double mean = 0;
  double median = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

// Summary of `values` (sorted in place). All zero for an empty input.
Distribution Summarize(std::vector<double>& values);

// Up to `points` (x, F(x)) pairs of the empirical CDF of sorted `values`, evenly spaced in rank.
std::vector<std::pair<double, double>> CdfPoints(const std::vector<double>& sorted_values,
                                                 int points);

struct SeriesPoint {
  double t_s = 0;          // bucket start, seconds since the series origin
  double busy_gpus = 0;    // time-weighted mean over the bucket
  double queued_jobs = 0;  // time-weighted mean over the bucket
  double jain = 1;         // sampled at the bucket's end
};

class TimeSeries {
 public:
  // REQUIRES: width_ms > 0, max_buckets >= 2.
  TimeSeries(TimeMs origin_ms, DurationMs width_ms, int max_buckets);

  // Integrates the current levels from the last call up to t (t >= last). Returns true if at
  // least one bucket boundary was crossed, i.e. the caller should call Sample().
  bool AdvanceTo(TimeMs t);
  // Sets the levels that hold from now on.
  void SetLevels(double busy_gpus, double queued_jobs) {
    busy_ = busy_gpus;
    queued_ = queued_jobs;
  }
  // Records the sampled value for every bucket that ended in the last AdvanceTo (and for the
  // current bucket, which Finish() closes).
  void Sample(double jain);

  // Buckets up to the last AdvanceTo; the final one may be partial (its mean is over its
  // covered part).
  std::vector<SeriesPoint> Points() const;
  DurationMs width_ms() const { return width_; }

 private:
  struct Bucket {
    double busy_ms = 0;    // integral of busy GPUs over the bucket, GPU-ms
    double queued_ms = 0;  // integral of queued jobs, job-ms
    double jain = -1;      // -1: not sampled yet
  };
  void MergePairs();

  TimeMs origin_;
  DurationMs width_;
  size_t max_buckets_;
  TimeMs last_;
  double busy_ = 0;
  double queued_ = 0;
  size_t sampled_upto_ = 0;  // buckets [0, sampled_upto_) have samples
  std::vector<Bucket> buckets_;
};

}  // namespace muster::sim
