#include "cluster/coordinator/balance_trend.h"

#include <algorithm>
#include <cmath>

namespace muster::cluster {

namespace {

// mean += (x - mean) / count, field by field; `n_mean` keeps n's mean unrounded.
void Average(model::BalanceReport* mean, const model::BalanceReport& x, int count,
             double* n_mean) {
  auto step = [count](double m, double v) { return m + (v - m) / count; };
  *n_mean = step(*n_mean, x.n);
  mean->n = static_cast<int>(std::lround(*n_mean));
  mean->jain = step(mean->jain, x.jain);
  mean->cov = step(mean->cov, x.cov);
  mean->imbalance_factor = step(mean->imbalance_factor, x.imbalance_factor);
  mean->relative_imbalance = step(mean->relative_imbalance, x.relative_imbalance);
  mean->mean = step(mean->mean, x.mean);
  mean->min = step(mean->min, x.min);
  mean->max = step(mean->max, x.max);
  mean->sum = step(mean->sum, x.sum);
  mean->stddev = step(mean->stddev, x.stddev);
}

}  // namespace

BalanceTrend::BalanceTrend(BalanceTrendOptions options) : options_(options) {
  options_.recent = std::max(1, options_.recent);
  options_.bucket_ms = std::max<int64_t>(1, options_.bucket_ms);
}

void BalanceTrend::Add(BalancePoint point) {
  recent_.push_back(std::move(point));
  while (static_cast<int>(recent_.size()) > options_.recent) {
    Fold(recent_.front());
    recent_.pop_front();
  }
  const int64_t newest = recent_.back().time_ms;
  while (!coarse_.empty() && coarse_.front().mean.time_ms < newest - options_.history_ms)
    coarse_.pop_front();
}

void BalanceTrend::Fold(const BalancePoint& point) {
  if (options_.history_ms <= 0) return;
  const int64_t bucket = point.time_ms / options_.bucket_ms;
  if (coarse_.empty() || coarse_.back().bucket != bucket) {
    coarse_.push_back({.bucket = bucket,
                       .count = 1,
                       .mean = point,
                       .nodes_n = static_cast<double>(point.nodes.n),
                       .gpus_n = static_cast<double>(point.gpus.n)});
    return;
  }
  Bucket& b = coarse_.back();
  ++b.count;
  const double dt = static_cast<double>(point.time_ms - b.mean.time_ms) / b.count;
  b.mean.time_ms += static_cast<int64_t>(std::llround(dt));
  Average(&b.mean.nodes, point.nodes, b.count, &b.nodes_n);
  Average(&b.mean.gpus, point.gpus, b.count, &b.gpus_n);
}

std::vector<BalancePoint> BalanceTrend::Points(size_t keep) const {
  const size_t total = size();
  if (keep == 0 || keep > total) keep = total;
  std::vector<BalancePoint> out;
  out.reserve(keep);
  size_t skip = total - keep;
  for (const Bucket& b : coarse_) {
    if (skip > 0) {
      --skip;
      continue;
    }
    out.push_back(b.mean);
  }
  for (const auto& p : recent_) {
    if (skip > 0) {
      --skip;
      continue;
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace muster::cluster
