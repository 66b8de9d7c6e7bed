// Run-time calibration; see calibration.h for the method.
#include "model/calibration.h"

#include <algorithm>
#include <cmath>

#include "model/student_t.h"

namespace muster::model {
namespace {

// with_interval false leaves low = high = the center (no Student-t quantile: the costly part).
Prediction FromStats(const LineStats& s, double work, double confidence, const std::string& level,
                     bool with_interval = true) {
  Prediction p;
  p.samples = s.n;
  const double q = 0.5 + confidence / 2;
  double center = s.mean_y, half = 0;
  if (s.CanFitLine()) {
    const double slope = s.sxy / s.sxx;
    const double intercept = s.mean_y - slope * s.mean_x;
    const double sse = std::max(0.0, s.syy - slope * s.sxy);
    const double sd = std::sqrt(sse / (s.n - 2));
    const double dx = work - s.mean_x;
    center = intercept + slope * work;
    if (with_interval)
      half = StudentTQuantile(q, s.n - 2) * sd * std::sqrt(1 + 1.0 / s.n + dx * dx / s.sxx);
    p.basis = level + ":linear";
  } else if (s.n >= 2) {
    const double sd = std::sqrt(std::max(0.0, s.syy) / (s.n - 1));
    if (with_interval) half = StudentTQuantile(q, s.n - 1) * sd * std::sqrt(1 + 1.0 / s.n);
    p.basis = level + ":mean";
  } else {
    p.basis = level + ":single";
  }
  p.seconds = std::max(0.0, center);
  p.low = std::max(0.0, center - half);
  p.high = std::max(0.0, center + half);
  return p;
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

void Calibrator::Observe(const Observation& o) {
  if (!std::isfinite(o.work) || !std::isfinite(o.seconds) || o.seconds < 0) return;
  by_device_[{o.job_class, o.device_model}].Add(o.work, o.seconds);
  by_class_[o.job_class].Add(o.work, o.seconds);
}

Prediction Calibrator::Predict(const std::string& job_class, const std::string& device_model,
                               double work, double fallback_seconds, double confidence) const {
  return Lookup(job_class, device_model, work, fallback_seconds, /*with_interval=*/true,
                confidence > 0 && confidence < 1 ? confidence : options_.confidence);
}

double Calibrator::PredictSeconds(const std::string& job_class, const std::string& device_model,
                                  double work, double fallback_seconds) const {
  return Lookup(job_class, device_model, work, fallback_seconds, /*with_interval=*/false,
                options_.confidence)
      .seconds;
}

Prediction Calibrator::Lookup(const std::string& job_class, const std::string& device_model,
                              double work, double fallback_seconds, bool with_interval,
                              double confidence) const {
  const LineStats* device = nullptr;
  const LineStats* any = nullptr;
  if (auto it = by_device_.find({job_class, device_model}); it != by_device_.end()) {
    device = &it->second;
  }
  if (auto it = by_class_.find(job_class); it != by_class_.end()) any = &it->second;
  const int need = std::max(1, options_.min_samples);
  for (int threshold : {need, 1}) {
    if (device && device->n >= threshold) {
      return FromStats(*device, work, confidence, "class+device", with_interval);
    }
    if (any && any->n >= threshold)
      return FromStats(*any, work, confidence, "class", with_interval);
  }
  const double f = std::max(0.0, fallback_seconds);
  return Prediction{.seconds = f, .low = f, .high = f, .samples = 0, .basis = "fallback"};
}

int Calibrator::Samples(const std::string& job_class, const std::string& device_model) const {
  if (device_model.empty()) {
    auto it = by_class_.find(job_class);
    return it == by_class_.end() ? 0 : it->second.n;
  }
  auto it = by_device_.find({job_class, device_model});
  return it == by_device_.end() ? 0 : it->second.n;
}

}  // namespace muster::model
