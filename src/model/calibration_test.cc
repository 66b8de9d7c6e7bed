#include "model/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <random>

#include "model/student_t.h"

namespace muster::model {
namespace {

TEST(StudentT, KnownQuantiles) {
  EXPECT_NEAR(StudentTQuantile(0.975, 1), 12.7062, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.975, 2), 4.3027, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.975, 10), 2.2281, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.975, 30), 2.0423, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.995, 5), 4.0321, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.975, 1e6), 1.95997, 1e-3);
  EXPECT_NEAR(StudentTQuantile(0.025, 10), -2.2281, 1e-3);
  EXPECT_NEAR(StudentTCdf(0, 7), 0.5, 1e-12);
}

TEST(Calibrator, FallbackWhenNoHistory) {
  Calibrator c;
  Prediction p = c.Predict({.job_class = "train", .device_model = "A100", .default_s = 42});
  EXPECT_EQ(p.basis, "fallback");
  EXPECT_EQ(p.samples, 0);
  EXPECT_DOUBLE_EQ(p.seconds, 42);
  EXPECT_DOUBLE_EQ(p.low, 42);
  EXPECT_DOUBLE_EQ(p.high, 42);
  p = c.Predict({.job_class = "train", .estimate_s = 30, .default_s = 42});
  EXPECT_EQ(p.basis, "estimate");
  EXPECT_DOUBLE_EQ(p.seconds, 30);
}

TEST(Calibrator, ConvergesOnLinearDataAndIntervalCovers) {
  // seconds = 5 + 0.2 * work + N(0, 1): the robust line must approach the true one and the 95%
  // interval must cover about 95% of fresh draws (the fit uses the newest 64 runs).
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::uniform_real_distribution<double> work_dist(10, 500);
  Calibrator c;
  for (int i = 0; i < 2000; ++i) {
    const double w = work_dist(rng);
    c.Observe({"resnet", "A100", w, 5 + 0.2 * w + noise(rng)});
  }
  const Prediction p = c.Predict("resnet", "A100", 300, 1);
  EXPECT_EQ(p.basis, "class+device:linear");
  EXPECT_EQ(p.samples, 64);
  EXPECT_EQ(c.Samples("resnet", "A100"), 2000);
  EXPECT_NEAR(p.seconds, 65, 0.6);
  EXPECT_NEAR(p.high - p.seconds, 2.2, 0.6);  // ~ t * sigma, or the residuals' 98th percentile
  int covered = 0;
  const int trials = 4000;
  for (int i = 0; i < trials; ++i) {
    const double w = work_dist(rng);
    const Prediction q = c.Predict("resnet", "A100", w, 1);
    const double y = 5 + 0.2 * w + noise(rng);
    covered += (q.low <= y && y <= q.high);
  }
  EXPECT_NEAR(static_cast<double>(covered) / trials, 0.95, 0.04);
}

TEST(Calibrator, SmallSampleIntervalsCoverAcrossRepetitions) {
  // With 5 runs per fit, t-based intervals on a robust sigma still cover about 90-99% of fresh
  // draws (a z-based one would not): for a line, and for the median of a constant job.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 2);
  int covered_line = 0, covered_median = 0;
  const int reps = 3000;
  for (int r = 0; r < reps; ++r) {
    Calibrator c;
    for (int i = 0; i < 5; ++i) {
      const double w = 100.0 * (i + 1);
      c.Observe({"job", "gpu", w, 10 + 0.05 * w + noise(rng)});
      c.Observe({"fixed", "gpu", 1, 40 + noise(rng)});
    }
    const Prediction p = c.Predict("job", "gpu", 250, 0);
    const double y = 10 + 0.05 * 250 + noise(rng);
    covered_line += (p.low <= y && y <= p.high);
    const Prediction m = c.Predict("fixed", "gpu", 1, 0);
    const double z = 40 + noise(rng);
    covered_median += (m.low <= z && z <= m.high);
  }
  EXPECT_GT(static_cast<double>(covered_line) / reps, 0.90);
  EXPECT_LT(static_cast<double>(covered_line) / reps, 0.995);
  EXPECT_GT(static_cast<double>(covered_median) / reps, 0.90);
  EXPECT_LT(static_cast<double>(covered_median) / reps, 0.995);
}

TEST(Calibrator, MedianModelWhenWorkIsConstant) {
  Calibrator c({.half_life_runs = 0});  // equal weights
  for (double s : {10, 14, 12, 11, 13}) c.Observe({"etl", "cpu", 0, s});
  Prediction p = c.Predict("etl", "cpu", 0, 99);
  EXPECT_EQ(p.basis, "class+device:median");
  EXPECT_DOUBLE_EQ(p.seconds, 12);
  // On the log scale, symmetric: low * high = center^2, and the interval holds the runs.
  EXPECT_NEAR(p.low * p.high, 144, 1e-6);
  EXPECT_LT(p.low, 10);
  EXPECT_GT(p.high, 14);
  EXPECT_GT(p.low, 0);
}

TEST(Calibrator, OneTenTimesSpikeAmongTwentyRunsMovesThePredictionLessThanTenPercent) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 5);
  std::uniform_real_distribution<double> work_dist(50, 150);
  for (const bool varying_work : {false, true}) {
    for (size_t spike_at : {19u, 10u, 0u}) {  // the newest run, one in the middle, the oldest
      Calibrator with, without;
      double sum_with = 0, sum_without = 0;
      for (size_t i = 0; i < 20; ++i) {
        const double w = varying_work ? work_dist(rng) : 100;
        const double s = 100 * (w / 100) + noise(rng);
        without.Observe({"gemm", "A100", w, s});
        with.Observe({"gemm", "A100", w, i == spike_at ? 10 * s : s});
        sum_without += s;
        sum_with += i == spike_at ? 10 * s : s;
      }
      const Prediction a = without.Predict("gemm", "A100", 100, 1);
      const Prediction b = with.Predict("gemm", "A100", 100, 1);
      EXPECT_EQ(a.basis, varying_work ? "class+device:linear" : "class+device:median");
      EXPECT_LT(std::fabs(b.seconds - a.seconds) / a.seconds, 0.10)
          << "spike at " << spike_at << (varying_work ? ", varying work" : "") << ": "
          << a.seconds << " -> " << b.seconds;
      // What a mean would have done: the test can tell the two apart.
      EXPECT_GT((sum_with - sum_without) / sum_without, 0.35);
      // The interval's low end stays (its high end may reach the spike: one run in 20 was one).
      EXPECT_LT(std::fabs(b.low - a.low), 0.1 * a.seconds) << spike_at;
    }
  }
}

TEST(Calibrator, RecentRunsWeighMore) {
  // A job that became twice as slow: 20 runs of 100 s, then 20 of 200 s.
  Calibrator aged, flat({.half_life_runs = 0});
  for (int i = 0; i < 40; ++i) {
    aged.Observe({"sim", "cpu", 0, i < 20 ? 100.0 : 200.0});
    flat.Observe({"sim", "cpu", 0, i < 20 ? 100.0 : 200.0});
  }
  EXPECT_DOUBLE_EQ(aged.Predict("sim", "cpu", 0, 1).seconds, 200);
  EXPECT_DOUBLE_EQ(flat.Predict("sim", "cpu", 0, 1).seconds, 150);  // the two middle ones
  // Only the newest `window` runs count at all.
  Calibrator windowed({.window = 10, .half_life_runs = 0});
  for (int i = 0; i < 40; ++i) windowed.Observe({"sim", "cpu", 0, i < 30 ? 100.0 : 200.0});
  EXPECT_DOUBLE_EQ(windowed.Predict("sim", "cpu", 0, 1).seconds, 200);
  EXPECT_EQ(windowed.Predict("sim", "cpu", 0, 1).samples, 10);
}

TEST(Calibrator, FallsBackFromClassToEstimateToUserToGpusToGlobal) {
  Calibrator c;
  c.Observe({"train", "A100", 0, 100, "ann", 4});
  c.Observe({"train", "A100", 0, 110, "ann", 4});
  c.Observe({"train", "V100", 0, 300, "ann", 4});
  c.Observe({"eval", "A100", 0, 10, "bob", 1});
  c.Observe({"eval", "A100", 0, 12, "bob", 1});
  // Literals: the query's views outlive every call.
  auto query = [](std::string_view cls, std::string_view dev, std::string_view user, int gpus,
                  double est = 0) {
    return PredictionQuery{.job_class = cls, .device_model = dev, .user = user, .gpus = gpus,
                           .estimate_s = est, .default_s = 7};
  };
  Prediction p = c.Predict(query("train", "A100", "ann", 4));
  EXPECT_EQ(p.basis, "class+device:median");
  EXPECT_DOUBLE_EQ(p.seconds, 110);  // the newer of the two weighs more
  p = c.Predict(query("train", "H100", "ann", 4));
  EXPECT_EQ(p.basis, "class:median");
  EXPECT_EQ(p.samples, 3);
  p = c.Predict(query("new", "A100", "ann", 1, 50));
  EXPECT_EQ(p.basis, "estimate");
  EXPECT_DOUBLE_EQ(p.seconds, 50);
  p = c.Predict(query("new", "A100", "ann", 1));
  EXPECT_EQ(p.basis, "user:median");
  EXPECT_EQ(p.samples, 3);
  p = c.Predict(query("new", "A100", "cy", 1));
  EXPECT_EQ(p.basis, "gpus:median");
  EXPECT_NEAR(p.seconds, 12, 1e-9);
  p = c.Predict(query("new", "A100", "cy", 8));
  EXPECT_EQ(p.basis, "global:median");
  EXPECT_EQ(p.samples, 5);
  Calibrator empty;
  EXPECT_EQ(empty.Predict(query("new", "A100", "cy", 8)).basis, "fallback");
  EXPECT_EQ(c.Samples("train", ""), 3);
  EXPECT_EQ(c.Samples("train", "V100"), 1);
  // One run of the class is used before the estimate and the other levels.
  p = c.Predict(query("train", "V100", "ann", 4, 50));
  EXPECT_EQ(p.basis, "class:median");  // the class's 3 runs beat the device's 1
  Calibrator one;
  one.Observe({"solo", "A100", 0, 9, "ann", 1});
  one.Observe({"x", "A100", 0, 1, "ann", 1});
  EXPECT_EQ(one.Predict(query("solo", "A100", "ann", 1, 50)).basis, "class+device:single");
}

TEST(Calibrator, ScoredIntervalsWidenUntilTheTargetShareFallsInside) {
  // The history says 100 s +- 1 s; the runs that follow vary by 10 s (a stale history). Scored
  // widens the intervals until about 90% of the runs land inside; without it they would not.
  for (const int window : {1000, 0}) {
    Calibrator c({.coverage_window = window});
    std::mt19937_64 rng(5);
    std::normal_distribution<double> narrow(100, 1), wide(100, 10);
    for (int i = 0; i < 30; ++i) c.Observe({"job", "gpu", 0, narrow(rng)});
    int inside = 0;
    const int runs = 4000;
    for (int i = 0; i < runs; ++i) {
      const Prediction p = c.Predict("job", "gpu", 0, 1, 0.9);
      const double actual = wide(rng);
      inside += p.low <= actual && actual <= p.high;
      c.Scored(actual, p);
    }
    const double coverage = static_cast<double>(inside) / runs;
    if (window > 0) {
      EXPECT_NEAR(coverage, 0.9, 0.03);
      EXPECT_GT(c.interval_scale(), 2);
    } else {
      EXPECT_LT(coverage, 0.5);
      EXPECT_DOUBLE_EQ(c.interval_scale(), 1);
    }
  }
  // Predictions without an interval are not scored, nor a target outside (0, 1).
  Calibrator c;
  for (int i = 0; i < 100; ++i) c.Scored(5, Prediction{.seconds = 7, .low = 7, .high = 7});
  EXPECT_DOUBLE_EQ(c.interval_scale(), 1);
  Calibrator off({.coverage_target = 0});
  for (int i = 0; i < 100; ++i)
    off.Scored(50, Prediction{.seconds = 7, .low = 6, .high = 8, .interval_scale = 1});
  EXPECT_DOUBLE_EQ(off.interval_scale(), 1);
  // A run beyond a side of no width (the low bound clamped at the center) is no score either.
  Calibrator flat;
  for (int i = 0; i < 100; ++i)
    flat.Scored(1, Prediction{.seconds = 7, .low = 7, .high = 8, .interval_scale = 1});
  EXPECT_DOUBLE_EQ(flat.interval_scale(), 1);
}

TEST(Calibrator, ScoresReportedDaysLateDoNotSwingTheScale) {
  // A run is scored when it ends, long after its prediction: here each prediction is scored
  // 2,000 predictions later. Intervals made from a history of 100 s +- 1 s, runs of 100 +- 10 s:
  // the scale settles once and the share inside stays near 90% (an integrator of misses fed this
  // late swings between its bounds, and covers far less).
  Calibrator c;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> narrow(100, 1), wide(100, 10);
  for (int i = 0; i < 30; ++i) c.Observe({"job", "gpu", 0, narrow(rng)});
  std::deque<std::pair<Prediction, double>> in_flight;
  int inside = 0, counted = 0;
  double min_scale = 1e9, max_scale = 0;
  for (int i = 0; i < 20000; ++i) {
    const Prediction p = c.Predict("job", "gpu", 0, 1, 0.9);
    const double actual = wide(rng);
    if (i >= 4000) {  // once the first scores arrived
      inside += p.low <= actual && actual <= p.high;
      ++counted;
      min_scale = std::min(min_scale, c.interval_scale());
      max_scale = std::max(max_scale, c.interval_scale());
    }
    in_flight.emplace_back(p, actual);
    if (in_flight.size() > 2000) {
      c.Scored(in_flight.front().second, in_flight.front().first);
      in_flight.pop_front();
    }
  }
  EXPECT_NEAR(static_cast<double>(inside) / counted, 0.9, 0.03);
  EXPECT_LT(max_scale / min_scale, 1.5) << min_scale << " to " << max_scale;
}

TEST(Calibrator, TheScaleAScoreNeedsIsMeasuredOnTheIntervalsOwnSide) {
  // An interval 100 s [50 s, 400 s] on the log scale: a run of 800 s needed 1.5 x its high side
  // (log 8 / log 4), one of 25 s 2 x its low side; 30 such scores set the scale to the needed
  // scale's 90% quantile.
  Calibrator c;
  const Prediction p{.seconds = 100, .low = 50, .high = 400, .interval_scale = 1};
  for (int i = 0; i < 27; ++i) c.Scored(100, p);
  for (int i = 0; i < 3; ++i) c.Scored(800, p);
  EXPECT_NEAR(c.interval_scale(), 1.5, 1e-9);
  Calibrator low;
  for (int i = 0; i < 27; ++i) low.Scored(100, p);
  for (int i = 0; i < 3; ++i) low.Scored(25, p);
  EXPECT_NEAR(low.interval_scale(), 2.0, 1e-9);
  // On a linear fit's interval the distances are in seconds, and the scale the interval was made
  // with counts: made at 2 x, a run 2 x as far out as its bound needed 4 x.
  Calibrator linear;
  const Prediction l{.seconds = 100, .low = 90, .high = 110, .interval_scale = 2,
                     .log_interval = false};
  for (int i = 0; i < 27; ++i) linear.Scored(100, l);
  for (int i = 0; i < 3; ++i) linear.Scored(120, l);
  EXPECT_NEAR(linear.interval_scale(), 4.0, 1e-9);
}

TEST(Calibrator, SingleRunIsUsedWithDegenerateInterval) {
  Calibrator c;
  c.Observe({"x", "d", 1, 7});
  const Prediction p = c.Predict("x", "d", 1, 99);
  EXPECT_EQ(p.basis, "class+device:single");
  EXPECT_DOUBLE_EQ(p.seconds, 7);
  EXPECT_DOUBLE_EQ(p.low, 7);
  EXPECT_DOUBLE_EQ(p.high, 7);
}

TEST(Calibrator, IgnoresBadObservations) {
  Calibrator c;
  c.Observe({"x", "d", 1, -5});
  c.Observe({"x", "d", NAN, 5});
  c.Observe({"x", "d", 1, INFINITY});
  EXPECT_EQ(c.Samples("x", "d"), 0);
  EXPECT_EQ(c.Predict("x", "d", 1, 3).basis, "estimate");
}

TEST(WeightedMedian, HalfTheWeightOnEachSide) {
  EXPECT_DOUBLE_EQ(WeightedMedian(std::vector<double>{3, 1, 2}, std::vector<double>{1, 1, 1}).value(), 2);
  EXPECT_DOUBLE_EQ(WeightedMedian(std::vector<double>{1, 2}, std::vector<double>{1, 1}).value(), 1.5);
  EXPECT_DOUBLE_EQ(WeightedMedian(std::vector<double>{1, 2, 100}, std::vector<double>{1, 1, 5}).value(), 100);
  EXPECT_DOUBLE_EQ(WeightedMedian(std::vector<double>{1, 2, 100}, std::vector<double>{3, 1, 1}).value(), 1);
  EXPECT_FALSE(WeightedMedian(std::vector<double>{}, std::vector<double>{}).ok());
  EXPECT_FALSE(WeightedMedian(std::vector<double>{1}, std::vector<double>{0}).ok());
}

TEST(FitLine, RecoversAlphaBeta) {
  // seconds = alpha + bytes / beta with alpha = 50 us, beta = 1e9 B/s, exact data.
  std::vector<double> bytes{1e3, 1e5, 1e6, 1e7, 1e8};
  std::vector<double> secs;
  for (double b : bytes) secs.push_back(50e-6 + b / 1e9);
  auto f = FitLine(bytes, secs);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_NEAR(f->intercept, 50e-6, 1e-12);
  EXPECT_NEAR(1 / f->slope, 1e9, 1e-3);
  EXPECT_NEAR(f->residual_stddev, 0, 1e-12);
  EXPECT_FALSE(FitLine(std::vector<double>{1, 1, 1}, std::vector<double>{1, 2, 3}).ok());
  EXPECT_FALSE(FitLine(std::vector<double>{1, 2}, std::vector<double>{1, 2}).ok());
}

}  // namespace
}  // namespace muster::model
