#include "model/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
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
  const Prediction p = c.Predict("train", "H100", 10, 42);
  EXPECT_EQ(p.basis, "fallback");
  EXPECT_EQ(p.samples, 0);
  EXPECT_DOUBLE_EQ(p.seconds, 42);
  EXPECT_DOUBLE_EQ(p.low, 42);
  EXPECT_DOUBLE_EQ(p.high, 42);
}

TEST(Calibrator, ConvergesOnLinearDataAndIntervalCovers) {
  // seconds = 5 + 0.2 * work + N(0, 1); the fit must approach the true line and the 95%
  // prediction interval must cover about 95% of fresh draws.
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
  EXPECT_EQ(p.samples, 2000);
  EXPECT_NEAR(p.seconds, 65, 0.2);
  EXPECT_NEAR(p.high - p.seconds, 1.96, 0.15);  // ~ t * sigma
  int covered = 0;
  const int trials = 4000;
  for (int i = 0; i < trials; ++i) {
    const double w = work_dist(rng);
    const Prediction q = c.Predict("resnet", "A100", w, 1);
    const double y = 5 + 0.2 * w + noise(rng);
    covered += (q.low <= y && y <= q.high);
  }
  EXPECT_NEAR(static_cast<double>(covered) / trials, 0.95, 0.02);
}

TEST(Calibrator, SmallSampleIntervalCoversAcrossRepetitions) {
  // With 5 runs per fit, t-based intervals should still cover ~95% (a z-based one would not).
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 2);
  int covered = 0;
  const int reps = 3000;
  for (int r = 0; r < reps; ++r) {
    Calibrator c;
    for (int i = 0; i < 5; ++i) {
      const double w = 100.0 * (i + 1);
      c.Observe({"job", "gpu", w, 10 + 0.05 * w + noise(rng)});
    }
    const Prediction p = c.Predict("job", "gpu", 250, 0);
    const double y = 10 + 0.05 * 250 + noise(rng);
    covered += (p.low <= y && y <= p.high);
  }
  EXPECT_NEAR(static_cast<double>(covered) / reps, 0.95, 0.02);
}

TEST(Calibrator, MeanModelWhenWorkIsConstant) {
  Calibrator c;
  for (double s : {10.0, 12.0, 14.0}) c.Observe({"etl", "cpu", 0, s});
  const Prediction p = c.Predict("etl", "cpu", 0, 99);
  EXPECT_EQ(p.basis, "class+device:mean");
  EXPECT_DOUBLE_EQ(p.seconds, 12);
  // sd = 2, t_{0.975,2} = 4.303, sqrt(1 + 1/3)
  EXPECT_NEAR(p.high - p.seconds, 4.3027 * 2 * std::sqrt(4.0 / 3), 1e-3);
  EXPECT_NEAR(p.seconds - p.low, p.high - p.seconds, 1e-9);
  // A wide interval is clamped at zero seconds.
  Calibrator wide;
  for (double s : {1.0, 20.0}) wide.Observe({"etl", "cpu", 0, s});
  EXPECT_DOUBLE_EQ(wide.Predict("etl", "cpu", 0, 99).low, 0);
}

TEST(Calibrator, FallsBackFromDeviceToClassToFallback) {
  Calibrator c;
  c.Observe({"train", "A100", 1, 100});
  c.Observe({"train", "A100", 1, 110});
  c.Observe({"train", "V100", 1, 300});
  // V100 has one run (< min_samples 2), the class has three: class level wins.
  Prediction p = c.Predict("train", "V100", 1, 5);
  EXPECT_EQ(p.basis, "class:mean");
  EXPECT_EQ(p.samples, 3);
  EXPECT_NEAR(p.seconds, 170, 1e-9);
  p = c.Predict("train", "A100", 1, 5);
  EXPECT_EQ(p.basis, "class+device:mean");
  EXPECT_NEAR(p.seconds, 105, 1e-9);
  p = c.Predict("train", "H100", 1, 5);
  EXPECT_EQ(p.basis, "class:mean");
  p = c.Predict("infer", "A100", 1, 5);
  EXPECT_EQ(p.basis, "fallback");
  EXPECT_EQ(c.Samples("train", ""), 3);
  EXPECT_EQ(c.Samples("train", "V100"), 1);
}

TEST(Calibrator, SingleRunIsUsedWithDegenerateInterval) {
  Calibrator c;
  c.Observe({"x", "d", 3, 7});
  const Prediction p = c.Predict("x", "d", 3, 100);
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
  EXPECT_EQ(c.Predict("x", "d", 1, 3).basis, "fallback");
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
