// The balance metrics over time, for GetBalance's trend and the dashboard's chart: every
// evaluation of the last `recent` ones as it was, and before them, for `history_ms`, one point per
// `bucket_ms` (the mean of the evaluations in it, at their mean time). With the defaults and a
// balance period of 10 s that is the last 20 minutes in full and the 24 hours before in minutes:
// at most 1,560 points.
//
// Thread-safety: none; the coordinator holds balance_mu_ around it.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "cluster/coordinator/views.h"

namespace muster::cluster {

struct BalanceTrendOptions {
  int recent = 120;                      // evaluations kept as they were
  int64_t history_ms = 24 * 3600 * 1000;  // how far back the coarse points go
  int64_t bucket_ms = 60 * 1000;           // one coarse point per bucket
};

class BalanceTrend {
 public:
  explicit BalanceTrend(BalanceTrendOptions options = {});
  // The next evaluation; points are expected in time order.
  void Add(BalancePoint point);
  // The newest `keep` points, oldest first (0 = all): coarse ones, then the recent ones.
  std::vector<BalancePoint> Points(size_t keep = 0) const;
  size_t size() const { return coarse_.size() + recent_.size(); }

 private:
  struct Bucket {
    int64_t bucket = 0;  // time_ms / bucket_ms of its points
    int count = 0;
    BalancePoint mean;
    double nodes_n = 0, gpus_n = 0;  // the means of n, unrounded (a report's n is whole)
  };
  void Fold(const BalancePoint& point);

  BalanceTrendOptions options_;
  std::deque<BalancePoint> recent_;
  std::deque<Bucket> coarse_;
};

}  // namespace muster::cluster
