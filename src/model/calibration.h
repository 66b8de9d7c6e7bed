// Per-class run-time calibration from history, robust to outliers and weighted to recent runs.
//
// The Calibrator keeps, for each level a job can be predicted at, the last `window` runs
// (work, seconds), oldest first:
//   class+device  the job class on one device model;
//   class         the job class on any device;
//   user          the user's runs of any class;
//   gpus          runs of jobs with the same GPU count;
//   global        every run.
// Predict(query) picks the first level with >= min_samples runs among class+device and class,
// else the first of them with one run; then the caller's estimate (the user's --est-time), if
// there is one; then the first of user, gpus, global with >= min_samples runs; then the default.
//
// At a level, each run weighs 0.5^(age / half_life_runs) (age 0 for the newest), so recent runs
// count more, and the statistics are weighted medians, so that a few aberrant runs (a "timing
// spike") move a prediction by at most their rank, not by their size:
//   * at a class level with >= 3 runs at >= 3 different amounts of work: the Theil-Sen line
//     seconds = a + b * work (b the weighted median of the pairwise slopes, a the weighted median
//     of seconds - b * work), with the interval
//         yhat +- t_{(1+c)/2, k-2} * s * sqrt(1 + v + (pi/2) (work - mean_work)^2 / Sxx);
//   * otherwise (and at the user, gpus and global levels, whose jobs differ in work): the
//     weighted median of the run times, with an interval on the log scale (run times are
//     skewed, and never negative):
//         exp(median(log y) +- t_{(1+c)/2, k-1} * s * sqrt(1 + v));
//     where s is the (unweighted) root mean square of the k residuals within 3 + 6/n robust
//     sigmas (1.4826 * the weighted median absolute residual; all of them below 8 runs) of the
//     fit, so that outliers move neither the center nor s, and v = (pi/2) / n_eff is a weighted
//     median's variance (n_eff = (sum w)^2 / sum w^2, the effective number of weighted runs);
//     with >= 4 effective runs the interval also spans the residuals' own weighted quantiles
//     at c * (n_eff + 2) / n_eff, outliers included (run times are heavy-tailed: a spike among
//     20 runs widens the high end, and says something true about the next run); the width is
//     then scaled by the adaptive coverage's kappa (Scored), a quantile of the scales recent
//     intervals needed;
//   * one run gives that run's time with the spread of the first wider level (user, gpus,
//     global) that has one, else a degenerate interval (low == high), and so do the
//     estimate and the default (samples == 0).
// The robust sigma has a floor of `min_relative_spread` of the prediction (on the log scale: that
// fraction), so that runs that happened to take the same time do not give an empty interval.
// Predictions and bounds are clamped at 0 seconds.
// Observations with non-finite values or negative time are ignored. Not thread-safe, const
// methods included (they cache each level's fit until its next run): callers synchronize. Pure:
// no I/O or clock.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace muster::model {

struct Observation {
  std::string job_class;
  std::string device_model;
  double work = 0;
  double seconds = 0;
  std::string user;  // "" = not recorded at the user level
  int gpus = -1;     // < 0 = not recorded at the gpus level
};

// What is known about a job before it runs. The strings are views: what they name must outlive
// the call (a query is built for one call, from the job's spec).
struct PredictionQuery {
  std::string_view job_class;
  std::string_view device_model;
  double work = 0;
  std::string_view user;  // "" = skip the user level
  int gpus = -1;     // < 0 = skip the gpus level
  double estimate_s = 0;  // the user's own estimate; <= 0 = none
  double default_s = 0;   // when nothing else is known
};

struct Prediction {
  double seconds = 0;
  double low = 0;
  double high = 0;
  int samples = 0;    // runs the prediction was made from
  std::string basis;  // "<level>:linear|median|single" (level as above), "estimate" or "fallback"
  // The adaptive coverage's kappa that [low, high] was scaled by, on the log scale of seconds
  // (log_interval) or on seconds (a linear fit's); 0 = no interval (low == high).
  double interval_scale = 0;
  bool log_interval = true;
};

struct CalibratorOptions {
  int min_samples = 2;        // runs a level needs before it is preferred over the next one
  double confidence = 0.95;   // two-sided coverage of [low, high]
  int window = 64;            // runs kept per level (the newest)
  double half_life_runs = 16; // a run's weight halves every this many newer runs; <= 0 = equal
  double min_relative_spread = 0.005;
  // Adaptive coverage (Scored): every interval's width is scaled by kappa, the coverage_target
  // quantile of the scales the last coverage_window scored runs needed; a window <= 0, or a
  // target outside (0, 1), turns it off.
  double coverage_target = 0.9;
  int coverage_window = 4096;
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
// Used to calibrate the alpha-beta model: x = bytes, y = seconds gives alpha = intercept and
// 1/beta = slope.
Result<LinearFit> FitLine(std::span<const double> x, std::span<const double> y);

// The weighted median of values[i] with weights[i] > 0: the smallest value whose cumulative
// weight reaches half of the total (the mean of the two middle ones when it is exactly half).
// Errors when empty or when the sizes differ.
Result<double> WeightedMedian(std::span<const double> values, std::span<const double> weights);

class Calibrator {
 public:
  Calibrator() = default;
  explicit Calibrator(CalibratorOptions options) : options_(options) {}

  // Records one measured run at each level it belongs to; ignores non-finite values and
  // negative seconds.
  void Observe(const Observation& o);
  // `confidence` (0..1) replaces CalibratorOptions::confidence for this call when given.
  Prediction Predict(const PredictionQuery& query, double confidence = -1) const;
  // Predict(...).seconds without the interval (cheaper: for every task launch and start).
  double PredictSeconds(const PredictionQuery& query) const;
  // The class levels only, `fallback_seconds` as the estimate (no user, gpus or global level).
  Prediction Predict(const std::string& job_class, const std::string& device_model, double work,
                     double fallback_seconds, double confidence = -1) const;
  // Runs recorded for (class, device), all of them (not only the window); device "" means any.
  int Samples(std::string_view job_class, std::string_view device_model) const;
  // A run of `actual_s` whose prediction at its submit was `at_submit`: when run times drift (a
  // stale history, a changing job mix), intervals made from the past miss more often than they
  // say. Each scored run gives the scale its interval would have needed to hold it (on the
  // interval's own scale, from its center: at_submit.interval_scale x the distance to the
  // actual / the distance to the bound on that side); kappa, the factor on every later
  // interval's width, is the coverage_target quantile of the last coverage_window of these
  // (a rolling split-conformal calibration; at (n + 1) x target of n, for finite-sample
  // coverage), once 30 runs were scored (then after every score until 256, every 16th after),
  // within [0.25, 50]. A window of thousands spans weeks and every class, so that a burst of one
  // class's runs ending together does not decide it. A quantile of recent scores, not an
  // integrator of misses: a run is scored when it ends, hours or days after its prediction was
  // made, and an integrator fed that late swings from bound to bound. Predictions without an
  // interval (interval_scale 0: a single run with no wider level, an estimate) are not scored,
  // nor a run beyond a side of no width (a bound clamped at 0 s), which no scale could reach.
  void Scored(double actual_s, const Prediction& at_submit);
  double interval_scale() const { return kappa_; }

 private:
  // The runs of one level and their fit, computed when first needed after a change.
  struct Level {
    std::deque<std::pair<double, double>> runs;  // (work, seconds), oldest first
    int seen = 0;                                // runs ever recorded
    struct Fit {
      bool linear = false;
      double intercept = 0, slope = 0;  // linear
      double center = 0;                // median seconds (not linear)
      double sigma = 0;  // of the residuals that are not outliers (linear) or of log seconds
      int df = 1;        // the interval's degrees of freedom
      double center_var = 0;  // the center's variance over sigma^2 (1/n for a plain mean)
      double n_eff = 0;       // (sum w)^2 / sum w^2
      std::vector<std::pair<double, double>> residuals;  // (residual, weight / sum w), sorted
      double mean_x = 0, sxx = 0;       // for the linear interval's leverage term
    };
    mutable std::optional<Fit> fit;
  };
  void Add(Level& level, double work, double seconds);

  static void Spread(const std::vector<double>& residuals, const std::vector<double>& w,
                     int params, double floor, Level::Fit* f);
  const Level::Fit& FitOf(const Level& level, bool may_be_linear) const;
  Prediction FromLevel(const Level& level, const std::string& name, bool may_be_linear,
                       double work, double confidence, bool with_interval) const;
  Prediction Lookup(const PredictionQuery& q, double confidence, bool with_interval) const;

  CalibratorOptions options_;
  // Keyed by std::less<>, so that a query's string_views find without copying.
  std::map<std::string, std::map<std::string, Level, std::less<>>, std::less<>> by_device_;
  std::map<std::string, Level, std::less<>> by_class_;
  std::map<std::string, Level, std::less<>> by_user_;
  std::map<int, Level> by_gpus_;
  Level global_;
  double kappa_ = 1;                // the intervals' scale (Scored)
  std::deque<double> needed_scales_;  // the last coverage_window scored runs' (Scored)
  uint64_t scored_ = 0;
};

}  // namespace muster::model
