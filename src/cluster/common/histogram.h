// A latency histogram in the Prometheus text format (cumulative buckets, _sum, _count), for the
// coordinator's /metrics: fixed bucket bounds in seconds, observations counted under a mutex.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/common/mutex.h"

namespace muster::cluster {

class Histogram {
 public:
  // `bounds_s`: ascending upper bounds in seconds (+Inf is added).
  explicit Histogram(std::vector<double> bounds_s);
  void Observe(double seconds);
  // "# HELP name help\n# TYPE name histogram\nname_bucket{le=...} ...\nname_sum ...\nname_count ...".
  std::string Text(const std::string& name, const std::string& help) const;

  // 100 us to 10 s, roughly 2.5x apart: scheduling passes, submissions, store commits.
  static std::vector<double> LatencyBounds();

 private:
  const std::vector<double> bounds_;
  mutable Mutex mu_;
  std::vector<int64_t> counts_ GUARDED_BY(mu_);  // per bucket, not cumulative; last = +Inf
  double sum_ GUARDED_BY(mu_) = 0;
  int64_t n_ GUARDED_BY(mu_) = 0;
};

}  // namespace muster::cluster
