#include "sim/metrics.h"

#include <algorithm>
#include <cmath>

namespace muster::sim {

Distribution Summarize(std::vector<double>& v) {
  Distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  d.count = static_cast<int64_t>(n);
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / static_cast<double>(n);
  d.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  auto rank = [&](double p) {
    size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(n) - 1e-9));
    return v[std::clamp<size_t>(k, 1, n) - 1];
  };
  d.p95 = rank(0.95);
  d.p99 = rank(0.99);
  d.max = v.back();
  return d;
}

std::vector<std::pair<double, double>> CdfPoints(const std::vector<double>& v, int points) {
  std::vector<std::pair<double, double>> out;
  const size_t n = v.size();
  if (n == 0 || points < 2) return out;
  const size_t k = std::min<size_t>(n, static_cast<size_t>(points));
  for (size_t i = 0; i < k; ++i) {
    size_t idx = k == 1 ? n - 1 : i * (n - 1) / (k - 1);
    out.push_back({v[idx], static_cast<double>(idx + 1) / static_cast<double>(n)});
  }
  return out;
}

TimeSeries::TimeSeries(TimeMs origin_ms, DurationMs width_ms, int max_buckets)
    : origin_(origin_ms),
      width_(width_ms),
      max_buckets_(static_cast<size_t>(max_buckets)),
      last_(origin_ms) {
  buckets_.resize(1);
}

void TimeSeries::MergePairs() {
  // Merge pairs; a merged bucket's sample is its later half's (taken at the later end).
  std::vector<Bucket> merged((buckets_.size() + 1) / 2);
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& m = merged[i / 2];
    m.busy_ms += buckets_[i].busy_ms;
    m.queued_ms += buckets_[i].queued_ms;
    if (i % 2 == 1 || i + 1 == buckets_.size()) m.jain = buckets_[i].jain;
  }
  buckets_ = std::move(merged);
  sampled_upto_ /= 2;
  width_ *= 2;
}

bool TimeSeries::AdvanceTo(TimeMs t) {
  if (t <= last_) return false;
  bool crossed = false;
  while (last_ < t) {
    size_t idx = static_cast<size_t>((last_ - origin_) / width_);
    if (idx >= max_buckets_) {
      MergePairs();
      continue;
    }
    if (buckets_.size() <= idx) buckets_.resize(idx + 1);
    TimeMs end = origin_ + static_cast<TimeMs>(idx + 1) * width_;
    TimeMs upto = std::min(end, t);
    double dt = static_cast<double>(upto - last_);
    buckets_[idx].busy_ms += busy_ * dt;
    buckets_[idx].queued_ms += queued_ * dt;
    last_ = upto;
    if (upto == end) crossed = true;
  }
  return crossed;
}

void TimeSeries::Sample(double jain) {
  size_t current = static_cast<size_t>((last_ - origin_) / width_);
  // Buckets that ended at or before last_ keep the first sample after their end; the bucket in
  // progress gets overwritten until it ends.
  for (size_t i = sampled_upto_; i < buckets_.size() && i <= current; ++i) buckets_[i].jain = jain;
  if (buckets_.size() <= current) {
    buckets_.resize(current + 1);
    buckets_[current].jain = jain;
  }
  sampled_upto_ = current;
}

std::vector<SeriesPoint> TimeSeries::Points() const {
  std::vector<SeriesPoint> out;
  const size_t last_idx = static_cast<size_t>((last_ - origin_) / width_);
  for (size_t i = 0; i < buckets_.size(); ++i) {
    TimeMs start = origin_ + static_cast<TimeMs>(i) * width_;
    if (start >= last_ && i > 0) break;
    double covered = static_cast<double>(std::min<TimeMs>(width_, last_ - start));
    if (i == last_idx && covered <= 0) break;
    SeriesPoint p;
    p.t_s = static_cast<double>(start - origin_) / 1000.0;
    p.busy_gpus = covered > 0 ? buckets_[i].busy_ms / covered : 0;
    p.queued_jobs = covered > 0 ? buckets_[i].queued_ms / covered : 0;
    p.jain = buckets_[i].jain >= 0 ? buckets_[i].jain : 1;
    out.push_back(p);
  }
  return out;
}

}  // namespace muster::sim
