// Per-class run-time calibration from history.
//
// For each (job_class, device_model) pair, and for each job_class over all devices, the
// Calibrator keeps streaming sufficient statistics of (work, seconds) observations (Welford-style
// means and co-moments; O(1) memory per key). Predict(class, device, work, fallback):
//   1. picks the first level with >= min_samples runs: (class, device), then (class, any device);
//      if neither has that many, the first level with at least one run; else the fallback;
//   2. at that level, when there are >= 3 runs whose work differs, fits seconds = a + b * work by
//      least squares and gives the prediction interval
//          yhat +- t_{(1+c)/2, n-2} * s * sqrt(1 + 1/n + (work - mean_work)^2 / Sxx)
//      (s = residual standard error); otherwise uses the sample mean with
//          mean +- t_{(1+c)/2, n-1} * sd * sqrt(1 + 1/n);
//      one run gives that run's time with a degenerate interval (low == high), and so does the
//      fallback (samples == 0). Predictions and bounds are clamped at 0 seconds.
// Assumptions: run time is roughly linear in `work` within a class on one device model, with
// independent, roughly normal residuals. Observations with non-finite values or negative time
// are ignored. Not thread-safe: callers synchronize. Pure: no I/O or clock.
#pragma once

#include <map>
#include <span>
#include <string>
#include <utility>

#include "core/status.h"

namespace muster::model {

struct Observation {
  std::string job_class;
  std::string device_model;
  double work = 0;
  double seconds = 0;
};

struct Prediction {
  double seconds = 0;
  double low = 0;
  double high = 0;
  int samples = 0;
  std::string basis;  // "class+device:linear|mean|single", "class:...", or "fallback"
};

struct CalibratorOptions {
  int min_samples = 2;       // runs a level needs before it is preferred over the next one
  double confidence = 0.95;  // two-sided coverage of [low, high]
};

// Streaming least-squares statistics of y against x.
struct LineStats {
  int n = 0;
  double mean_x = 0, mean_y = 0;
  double sxx = 0, syy = 0, sxy = 0;  // centred second moments

  void Add(double x, double y);
  // True when a line can be fitted: >= 3 points and x not constant.
  bool CanFitLine() const;
};

struct LinearFit {
  double intercept = 0;
  double slope = 0;
  double residual_stddev = 0;  // s, with n - 2 degrees of freedom
  int n = 0;
};

// Least-squares line through (x_i, y_i). Errors on size mismatch, < 3 points or constant x.
// Also used to calibrate the alpha-beta model: x = bytes, y = seconds gives alpha = intercept and
// 1/beta = slope.
Result<LinearFit> FitLine(std::span<const double> x, std::span<const double> y);

class Calibrator {  // per (job_class, device_model): mean/variance and least-squares time~work
 public:
  Calibrator() = default;
  explicit Calibrator(CalibratorOptions options) : options_(options) {}

  // Records one measured run; ignores non-finite values and negative seconds.
  void Observe(const Observation& o);
  // fallback_seconds is used when there is no history at all (e.g. the user's estimate).
  // `confidence` (0..1) replaces CalibratorOptions::confidence for this call when given.
  Prediction Predict(const std::string& job_class, const std::string& device_model, double work,
                     double fallback_seconds, double confidence = -1) const;
  // Predict(...).seconds without the interval (cheap: for every task launch and start).
  double PredictSeconds(const std::string& job_class, const std::string& device_model, double work,
                        double fallback_seconds) const;
  // Number of runs recorded for (class, device); device "" means any device.
  int Samples(const std::string& job_class, const std::string& device_model) const;

 private:
  Prediction Lookup(const std::string& job_class, const std::string& device_model, double work,
                    double fallback_seconds, bool with_interval, double confidence) const;

  CalibratorOptions options_;
  std::map<std::pair<std::string, std::string>, LineStats> by_device_;
  std::map<std::string, LineStats> by_class_;
};

}  // namespace muster::model
