#include "cluster/coordinator/balance_trend.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

BalancePoint At(int64_t time_ms, double jain) {
  BalancePoint p;
  p.time_ms = time_ms;
  p.nodes.jain = jain;
  p.nodes.n = 2;
  p.gpus.imbalance_factor = 1 - jain;
  return p;
}

TEST(BalanceTrend, RecentPointsAreKeptAsTheyWereAndOlderOnesAsMeansPerBucket) {
  BalanceTrend trend({.recent = 3, .history_ms = 3600 * 1000, .bucket_ms = 60 * 1000});
  // Every 10 s for 10 minutes: jain alternates 0.5 and 1.0.
  for (int i = 0; i < 60; ++i) trend.Add(At(i * 10000, i % 2 == 0 ? 0.5 : 1.0));
  const auto all = trend.Points();
  // The last 3 as they were; the 57 before them in minute buckets: 9 full minutes and the
  // first 3 points of the tenth.
  ASSERT_EQ(all.size(), 13u);
  EXPECT_EQ(all[12].time_ms, 590000);
  EXPECT_EQ(all[10].time_ms, 570000);
  EXPECT_DOUBLE_EQ(all[10].nodes.jain, 1.0);
  for (int m = 0; m < 9; ++m) {
    EXPECT_DOUBLE_EQ(all[m].nodes.jain, 0.75) << m;
    EXPECT_DOUBLE_EQ(all[m].gpus.imbalance_factor, 0.25) << m;
    EXPECT_EQ(all[m].nodes.n, 2);
    EXPECT_EQ(all[m].time_ms, m * 60000 + 25000) << "the mean time of 0, 10, ..., 50 s";
  }
  EXPECT_EQ(all[9].time_ms, 550000);  // 540, 550, 560 s
  EXPECT_NEAR(all[9].nodes.jain, (0.5 + 1.0 + 0.5) / 3, 1e-12);
  // Oldest first, whatever is asked for.
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].time_ms, all[i].time_ms);
  const auto last4 = trend.Points(4);
  ASSERT_EQ(last4.size(), 4u);
  EXPECT_EQ(last4[0].time_ms, all[9].time_ms);
  EXPECT_EQ(trend.Points(1000).size(), 13u);
}

TEST(BalanceTrend, ABucketsNodeCountIsTheRoundedMeanNotARoundingOfRoundings) {
  BalanceTrend trend({.recent = 1, .history_ms = 3600 * 1000, .bucket_ms = 60 * 1000});
  for (int i = 0; i < 7; ++i) {
    BalancePoint p = At(i * 1000, 1);
    p.nodes.n = i == 0 ? 3 : 2;  // 3, 2, 2, 2, 2, 2, then one kept as it was
    trend.Add(p);
  }
  EXPECT_EQ(trend.Points().front().nodes.n, 2);  // mean 2.17
}

TEST(BalanceTrend, CoarsePointsOlderThanTheHistoryAreDropped) {
  BalanceTrend trend({.recent = 2, .history_ms = 5 * 60 * 1000, .bucket_ms = 60 * 1000});
  for (int i = 0; i < 24 * 60; ++i) trend.Add(At(int64_t{i} * 60000, 1));  // a day, each minute
  const auto all = trend.Points();
  ASSERT_FALSE(all.empty());
  const int64_t newest = all.back().time_ms;
  EXPECT_GE(all.front().time_ms, newest - 5 * 60 * 1000);
  EXPECT_LE(all.size(), 2u + 6u);
  EXPECT_GE(all.size(), 2u + 4u);
}

TEST(BalanceTrend, NoHistoryKeepsOnlyTheRecentOnes) {
  BalanceTrend trend({.recent = 5, .history_ms = 0});
  for (int i = 0; i < 100; ++i) trend.Add(At(i * 1000, 1));
  EXPECT_EQ(trend.Points().size(), 5u);
  EXPECT_EQ(trend.Points().front().time_ms, 95000);
}

}  // namespace
}  // namespace muster::cluster
