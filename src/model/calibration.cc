// Run-time calibration; see calibration.h for the method.
#include "model/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <vector>

#include "model/student_t.h"

namespace muster::model {
namespace {

constexpr double kMadToSigma = 1.4826;  // MAD * this = sigma, for normal residuals
constexpr double kMinSeconds = 1e-3;    // the log scale's floor
// The adaptive coverage (Scored): kappa's bounds, and the runs scored before it moves.
constexpr double kMinIntervalScale = 0.25, kMaxIntervalScale = 50;
constexpr size_t kMinScoredRuns = 30;
constexpr double kMedianVariance = 1.5707963267948966;  // pi/2: a median's variance over a mean's
constexpr double kEmpiricalRuns = 4;  // effective runs the empirical interval needs

// The weighted median without checks (values non-empty, weights > 0, same size).
double Median(std::vector<std::pair<double, double>>& vw) {
  std::sort(vw.begin(), vw.end());
  double total = 0;
  for (const auto& [v, w] : vw) total += w;
  double acc = 0;
  for (size_t i = 0; i < vw.size(); ++i) {
    acc += vw[i].second;
    if (acc > total / 2 * (1 + 1e-12)) return vw[i].first;
    if (acc >= total / 2 * (1 - 1e-12))
      return i + 1 < vw.size() ? (vw[i].first + vw[i + 1].first) / 2 : vw[i].first;
  }
  return vw.back().first;
}

// Distinct amounts of work, up to 3 (enough to tell whether a line may be fitted).
int DistinctWork(const std::deque<std::pair<double, double>>& runs) {
  std::vector<double> seen;
  for (const auto& run : runs) {
    const double x = run.first;
    const bool known = std::any_of(seen.begin(), seen.end(), [&](double v) {
      return std::fabs(v - x) <= 1e-9 * std::max(std::fabs(v), std::fabs(x));
    });
    if (!known) seen.push_back(x);
    if (seen.size() >= 3) break;
  }
  return static_cast<int>(seen.size());
}

}  // namespace

void LineStats::Add(double x, double y) {
  ++n;
  const double dx = x - mean_x;
  mean_x += dx / n;
  const double dy = y - mean_y;
  mean_y += dy / n;
  sxx += dx * (x - mean_x);
  syy += dy * (y - mean_y);
  sxy += dx * (y - mean_y);
}

bool LineStats::CanFitLine() const {
  if (n < 3) return false;
  // x must vary beyond rounding noise relative to its magnitude.
  const double scale = std::max(std::fabs(mean_x), 1e-300);
  return sxx > 0 && std::sqrt(sxx / n) > 1e-9 * scale;
}

Result<LinearFit> FitLine(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) return Status::InvalidArgument("x and y differ in length");
  LineStats s;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      return Status::InvalidArgument("point " + std::to_string(i + 1) + " is not finite");
    }
    s.Add(x[i], y[i]);
  }
  if (!s.CanFitLine()) return Status::InvalidArgument("need >= 3 points with varying x");
  LinearFit f;
  f.n = s.n;
  f.slope = s.sxy / s.sxx;
  f.intercept = s.mean_y - f.slope * s.mean_x;
  f.residual_stddev = std::sqrt(std::max(0.0, s.syy - f.slope * s.sxy) / (s.n - 2));
  return f;
}

Result<double> WeightedMedian(std::span<const double> values, std::span<const double> weights) {
  if (values.empty()) return Status::InvalidArgument("no values");
  if (values.size() != weights.size()) return Status::InvalidArgument("values and weights differ");
  std::vector<std::pair<double, double>> vw;
  vw.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!(weights[i] > 0) || !std::isfinite(values[i]) || !std::isfinite(weights[i]))
      return Status::InvalidArgument("weight " + std::to_string(i + 1) + " is not positive");
    vw.emplace_back(values[i], weights[i]);
  }
  return Median(vw);
}

void Calibrator::Add(Level& level, double work, double seconds) {
  level.runs.emplace_back(work, seconds);
  while (static_cast<int>(level.runs.size()) > std::max(1, options_.window)) level.runs.pop_front();
  ++level.seen;
  level.fit.reset();
}

void Calibrator::Observe(const Observation& o) {
  if (!std::isfinite(o.work) || !std::isfinite(o.seconds) || o.seconds < 0) return;
  Add(by_device_[o.job_class][o.device_model], o.work, o.seconds);
  Add(by_class_[o.job_class], o.work, o.seconds);
  if (!o.user.empty()) Add(by_user_[o.user], o.work, o.seconds);
  if (o.gpus >= 0) Add(by_gpus_[o.gpus], o.work, o.seconds);
  Add(global_, o.work, o.seconds);
}

// The spread of a fit's residuals: the weighted MAD (as a sigma) tells outliers (beyond 3 of it)
// from the rest, whose root mean square with `params` degrees of freedom taken off is the sigma
// the interval uses (the MAD alone is biased low for few runs), floored at `floor`.
void Calibrator::Spread(const std::vector<double>& residuals, const std::vector<double>& w,
                        int params, double floor, Level::Fit* f) {
  std::vector<std::pair<double, double>> vw;
  vw.reserve(residuals.size());
  for (size_t i = 0; i < residuals.size(); ++i) vw.emplace_back(std::fabs(residuals[i]), w[i]);
  const double mad_sigma = std::max(kMadToSigma * Median(vw), floor);
  // The MAD of few runs is itself noisy (and a fit through some of them leaves those at 0): the
  // cut is wider for them, and there is none below 8 runs.
  const double cut = residuals.size() < 8
                         ? INFINITY
                         : (3 + 6.0 / static_cast<double>(residuals.size())) * mad_sigma;
  double sum_sq = 0;
  int inliers = 0;
  for (double r : residuals)
    if (std::fabs(r) <= cut) {
      sum_sq += r * r;
      ++inliers;
    }
  f->df = inliers - params;
  f->sigma = f->df > 0 ? std::max(std::sqrt(sum_sq / f->df), floor) : mad_sigma;
  if (f->df < 1) f->df = std::max(1, static_cast<int>(residuals.size()) - params);
  // A weighted median's variance: pi/2 that of a mean, over the effective number of runs.
  double sw = 0, sw2 = 0;
  for (double x : w) {
    sw += x;
    sw2 += x * x;
  }
  f->n_eff = sw * sw / sw2;
  f->center_var = kMedianVariance / f->n_eff;
  // The residuals themselves, for the interval's empirical quantiles.
  f->residuals.clear();
  for (size_t i = 0; i < residuals.size(); ++i) f->residuals.emplace_back(residuals[i], w[i] / sw);
  std::sort(f->residuals.begin(), f->residuals.end());
}

namespace {

// The residual that `q` (0..1) of the weight lies at or below, from sorted (residual, weight).
double ResidualQuantile(const std::vector<std::pair<double, double>>& sorted, double q) {
  double acc = 0;
  for (const auto& [r, w] : sorted) {
    acc += w;
    if (acc >= q - 1e-12) return r;
  }
  return sorted.empty() ? 0 : sorted.back().first;
}

// The empirical interval of the residuals at `confidence`, widened for a finite sample (a
// future run falls between two of n past ones' order statistics with probability (n-1)/(n+1)),
// as offsets from the center; nullopt below kEmpiricalRuns effective runs.
std::optional<std::pair<double, double>> EmpiricalInterval(
    double n_eff, const std::vector<std::pair<double, double>>& residuals, double confidence) {
  if (n_eff < kEmpiricalRuns || residuals.empty()) return std::nullopt;
  const double c = std::min(0.999, confidence * (n_eff + 2) / n_eff);
  return std::pair{ResidualQuantile(residuals, (1 - c) / 2),
                   ResidualQuantile(residuals, (1 + c) / 2)};
}

}  // namespace

const Calibrator::Level::Fit& Calibrator::FitOf(const Level& level, bool may_be_linear) const {
  if (level.fit) return *level.fit;
  const auto& runs = level.runs;
  const size_t n = runs.size();
  // Weights by age: the newest run weighs 1.
  std::vector<double> w(n, 1.0);
  if (options_.half_life_runs > 0)
    for (size_t i = 0; i < n; ++i)
      w[i] = std::exp2(-static_cast<double>(n - 1 - i) / options_.half_life_runs);
  Level::Fit f;
  std::vector<std::pair<double, double>> vw;
  vw.reserve(n);
  std::vector<double> residuals(n);
  if (may_be_linear && n >= 3 && DistinctWork(runs) >= 3) {
    f.linear = true;
    std::vector<std::pair<double, double>> slopes;
    slopes.reserve(n * (n - 1) / 2);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) {
        const double dx = runs[j].first - runs[i].first;
        if (std::fabs(dx) <= 1e-9 * std::max(std::fabs(runs[i].first), std::fabs(runs[j].first)))
          continue;
        slopes.emplace_back((runs[j].second - runs[i].second) / dx, w[i] * w[j]);
      }
    f.slope = Median(slopes);
    for (size_t i = 0; i < n; ++i) vw.emplace_back(runs[i].second - f.slope * runs[i].first, w[i]);
    f.intercept = Median(vw);
    for (size_t i = 0; i < n; ++i) residuals[i] = runs[i].second - f.intercept - f.slope * runs[i].first;
    double typical = 0;  // for the spread's floor
    for (const auto& r : runs) typical += std::fabs(r.second) / static_cast<double>(n);
    Spread(residuals, w, 2, options_.min_relative_spread * typical, &f);
    for (const auto& r : runs) f.mean_x += r.first / static_cast<double>(n);
    for (const auto& r : runs) f.sxx += (r.first - f.mean_x) * (r.first - f.mean_x);
  } else {
    for (size_t i = 0; i < n; ++i) vw.emplace_back(runs[i].second, w[i]);
    f.center = Median(vw);
    const double log_center = std::log(std::max(f.center, kMinSeconds));
    for (size_t i = 0; i < n; ++i)
      residuals[i] = std::log(std::max(runs[i].second, kMinSeconds)) - log_center;
    Spread(residuals, w, 1, options_.min_relative_spread, &f);
  }
  level.fit = f;
  return *level.fit;
}

Prediction Calibrator::FromLevel(const Level& level, const std::string& name, bool may_be_linear,
                                 double work, double confidence, bool with_interval) const {
  const Level::Fit& f = FitOf(level, may_be_linear);
  const int n = static_cast<int>(level.runs.size());
  const double q = 0.5 + confidence / 2;
  Prediction p;
  p.samples = n;
  if (f.linear) {
    const double center = f.intercept + f.slope * work;
    p.basis = name + ":linear";
    p.seconds = std::max(0.0, center);
    double half = 0;
    if (with_interval) {
      const double sigma = std::max(f.sigma, options_.min_relative_spread * std::fabs(center));
      const double dx = work - f.mean_x;
      half = StudentTQuantile(q, f.df) * sigma *
             std::sqrt(1 + f.center_var + (f.sxx > 0 ? kMedianVariance * dx * dx / f.sxx : 0));
    }
    double lo = -half, hi = half;
    if (with_interval)
      if (auto e = EmpiricalInterval(f.n_eff, f.residuals, confidence)) {
        lo = std::min(lo, e->first);
        hi = std::max(hi, e->second);
      }
    const double kappa = kappa_;
    const double low = center + kappa * lo, high = center + kappa * hi;
    p.low = std::max(0.0, low);
    p.high = std::max(0.0, high);
    if (with_interval) p.interval_scale = kappa;
    p.log_interval = false;
    return p;
  }
  p.seconds = std::max(0.0, f.center);
  p.low = p.high = p.seconds;
  if (n == 1) {
    p.basis = name + ":single";
    return p;
  }
  p.basis = name + ":median";
  if (with_interval) {
    const double half = StudentTQuantile(q, f.df) * f.sigma * std::sqrt(1 + f.center_var);
    const double log_center = std::log(std::max(f.center, kMinSeconds));
    double lo = -half, hi = half;
    if (auto e = EmpiricalInterval(f.n_eff, f.residuals, confidence)) {
      lo = std::min(lo, e->first);
      hi = std::max(hi, e->second);
    }
    const double kappa = kappa_;
    const double low = log_center + kappa * lo, high = log_center + kappa * hi;
    p.low = f.center <= 0 ? 0 : std::exp(low);
    p.high = std::exp(high);
    p.interval_scale = kappa;
  }
  return p;
}

void Calibrator::Scored(double actual_s, const Prediction& at_submit) {
  if (!std::isfinite(actual_s) || actual_s < 0 || !(at_submit.interval_scale > 0) ||
      !(at_submit.high > at_submit.low) || options_.coverage_window <= 0 ||
      !(options_.coverage_target > 0 && options_.coverage_target < 1))
    return;
  const auto scale = [&](double seconds) {
    return at_submit.log_interval ? std::log(std::max(seconds, kMinSeconds)) : seconds;
  };
  const double center = scale(at_submit.seconds), actual = scale(actual_s);
  const double bound = scale(actual >= center ? at_submit.high : at_submit.low);
  const double reach = std::fabs(bound - center), off = std::fabs(actual - center);
  // A side of no width (a run time clamped at 0 s) no scale could widen: not a score.
  if (off > 0 && !(reach > 0)) return;
  const double needed = off == 0 ? 0 : at_submit.interval_scale * off / reach;
  needed_scales_.push_back(std::min(needed, kMaxIntervalScale));
  if (static_cast<int>(needed_scales_.size()) > options_.coverage_window) needed_scales_.pop_front();
  const size_t n = needed_scales_.size();
  // The quantile costs O(window): once the window holds a few hundred, every 16th score.
  if (n < kMinScoredRuns || (n > 256 && ++scored_ % 16 != 0)) return;
  std::vector<double> sorted(needed_scales_.begin(), needed_scales_.end());
  const size_t rank = std::min(
      n - 1, static_cast<size_t>(std::ceil(static_cast<double>(n + 1) * options_.coverage_target)) - 1);
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank), sorted.end());
  kappa_ = std::clamp(sorted[rank], kMinIntervalScale, kMaxIntervalScale);
}

Prediction Calibrator::Predict(const PredictionQuery& query, double confidence) const {
  return Lookup(query, confidence > 0 && confidence < 1 ? confidence : options_.confidence,
                /*with_interval=*/true);
}

double Calibrator::PredictSeconds(const PredictionQuery& query) const {
  return Lookup(query, options_.confidence, /*with_interval=*/false).seconds;
}

Prediction Calibrator::Predict(const std::string& job_class, const std::string& device_model,
                               double work, double fallback_seconds, double confidence) const {
  return Predict(PredictionQuery{.job_class = job_class,
                                 .device_model = device_model,
                                 .work = work,
                                 .estimate_s = fallback_seconds,
                                 .default_s = fallback_seconds},
                 confidence);
}

Prediction Calibrator::Lookup(const PredictionQuery& q, double confidence,
                              bool with_interval) const {
  const Level* device = nullptr;
  const Level* cls = nullptr;
  if (auto c = by_device_.find(q.job_class); c != by_device_.end())
    if (auto it = c->second.find(q.device_model); it != c->second.end()) device = &it->second;
  if (auto it = by_class_.find(q.job_class); it != by_class_.end()) cls = &it->second;
  const Level* user = nullptr;
  const Level* gpus = nullptr;
  if (auto it = by_user_.find(q.user); !q.user.empty() && it != by_user_.end()) user = &it->second;
  if (auto it = by_gpus_.find(q.gpus); q.gpus >= 0 && it != by_gpus_.end()) gpus = &it->second;
  const int need = std::max(1, options_.min_samples);
  auto has = [](const Level* l, int at_least) {
    return l != nullptr && static_cast<int>(l->runs.size()) >= at_least;
  };
  // The first of the wider levels with enough runs, or null.
  const Level* wider = has(user, need) ? user : has(gpus, need) ? gpus : has(&global_, need) ? &global_ : nullptr;
  const char* wider_name = wider == user ? "user" : wider == gpus ? "gpus" : "global";
  for (int at_least : {need, 1}) {
    const Level* level = has(device, at_least) ? device : has(cls, at_least) ? cls : nullptr;
    if (level == nullptr) continue;
    Prediction p = FromLevel(*level, level == device ? "class+device" : "class", true, q.work,
                             confidence, with_interval);
    // One run says nothing of the spread: that of the wider level, scaled to this run.
    if (p.samples == 1 && with_interval && wider != nullptr) {
      const Prediction w = FromLevel(*wider, wider_name, false, q.work, confidence, true);
      if (w.seconds > 0) {
        p.low = p.seconds * (w.low / w.seconds);
        p.high = p.seconds * (w.high / w.seconds);
        p.interval_scale = w.interval_scale;
      }
    }
    return p;
  }
  const auto flat = [](double s, const char* basis) {
    s = std::max(0.0, s);
    return Prediction{.seconds = s, .low = s, .high = s, .samples = 0, .basis = basis};
  };
  if (q.estimate_s > 0) return flat(q.estimate_s, "estimate");
  if (wider != nullptr) return FromLevel(*wider, wider_name, false, q.work, confidence, with_interval);
  return flat(q.default_s, "fallback");
}

int Calibrator::Samples(std::string_view job_class, std::string_view device_model) const {
  if (device_model.empty()) {
    auto it = by_class_.find(job_class);
    return it == by_class_.end() ? 0 : it->second.seen;
  }
  auto c = by_device_.find(job_class);
  if (c == by_device_.end()) return 0;
  auto it = c->second.find(device_model);
  return it == c->second.end() ? 0 : it->second.seen;
}

}  // namespace muster::model
