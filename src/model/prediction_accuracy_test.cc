#include "model/prediction_accuracy.h"

#include <gtest/gtest.h>

namespace muster::model {
namespace {

TEST(PredictionAccuracy, QuantilesInterpolate) {
  EXPECT_DOUBLE_EQ(Quantile({}, 0.5), 0);
  EXPECT_DOUBLE_EQ(Quantile({3, 1, 2}, 0.5), 2);
  EXPECT_DOUBLE_EQ(Quantile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(Quantile({0, 10}, 0.9), 9);
  EXPECT_DOUBLE_EQ(Quantile({5}, 0.9), 5);
}

TEST(PredictionAccuracy, ErrorsBiasAndCoveragePerClassAndOverall) {
  std::vector<PredictedRun> runs;
  // "train": predicted 100 s each; actual 80, 100, 125 s; started 0, 10, 20 s late.
  for (auto [actual, late] : {std::pair{80.0, 0.0}, {100.0, 10.0}, {125.0, 20.0}})
    runs.push_back({.job_class = "train", .predicted_start_s = 60, .actual_start_s = 60 + late,
                    .predicted_run_s = 100, .actual_run_s = actual, .has_interval = true,
                    .low_s = 90, .high_s = 130});
  // "etl": one run predicted 10 s, took 20; no interval.
  runs.push_back({.job_class = "etl", .predicted_start_s = 0, .actual_start_s = 5,
                  .predicted_run_s = 10, .actual_run_s = 20});
  const std::vector<Accuracy> a = SummarizeAccuracy(runs);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].job_class, "");
  EXPECT_EQ(a[0].jobs, 4);
  EXPECT_EQ(a[1].job_class, "etl");
  EXPECT_EQ(a[2].job_class, "train");
  const Accuracy& t = a[2];
  // |100-80|/80 = 0.25, 0, |100-125|/125 = 0.2: median 0.2, p90 0.24.
  EXPECT_NEAR(t.runtime_rel_error.median, 0.2, 1e-12);
  EXPECT_NEAR(t.runtime_rel_error.p90, 0.24, 1e-12);
  EXPECT_NEAR(t.bias, 0, 1e-12);  // signed: +0.25, 0, -0.2
  EXPECT_DOUBLE_EQ(t.start_error_s.median, 10);
  EXPECT_DOUBLE_EQ(t.start_error_s.p90, 18);
  EXPECT_EQ(t.interval_jobs, 3);
  EXPECT_NEAR(t.interval_coverage, 2.0 / 3, 1e-12);  // 80 s is outside [90, 130]
  EXPECT_NEAR(a[1].bias, -0.5, 1e-12);
  EXPECT_EQ(a[1].interval_jobs, 0);
  EXPECT_EQ(a[0].interval_jobs, 3);
  EXPECT_EQ(a[0].runtime_rel_error.n, 4);
}

TEST(PredictionAccuracy, AJobWhoseTasksRunTogetherIsTimedByItsLongestTaskOthersByTheirSpan) {
  EXPECT_TRUE(RunsTogether(/*gang=*/true, /*array=*/false, 4));
  EXPECT_TRUE(RunsTogether(false, false, 1));
  EXPECT_FALSE(RunsTogether(false, true, 1));
  EXPECT_FALSE(RunsTogether(false, false, 3));
  FinishedJob j{.job_class = "c", .together = true, .submit_ms = 1000, .predicted_start_ms = 3000,
                .predicted_finish_ms = 13000, .start_ms = 4000, .end_ms = 16000, .low_s = 8,
                .high_s = 12, .longest_task_s = 11.5};
  PredictedRun r = ToPredictedRun(j);
  EXPECT_DOUBLE_EQ(r.predicted_start_s, 2);
  EXPECT_DOUBLE_EQ(r.actual_start_s, 3);
  EXPECT_DOUBLE_EQ(r.predicted_run_s, 10);
  EXPECT_DOUBLE_EQ(r.actual_run_s, 11.5);  // the task, without the launch around it
  EXPECT_TRUE(r.has_interval);
  j.together = false;
  r = ToPredictedRun(j);
  EXPECT_DOUBLE_EQ(r.actual_run_s, 12);  // the job's span
  EXPECT_FALSE(r.has_interval);
  // A point (the estimate, one run) is not an interval.
  j.together = true;
  j.low_s = j.high_s = 10;
  EXPECT_FALSE(ToPredictedRun(j).has_interval);
}

TEST(PredictionAccuracy, ARunWithoutAnActualTimeCountsForTheStartOnly) {
  const auto a = SummarizeAccuracy({{.job_class = "x", .predicted_start_s = 1,
                                     .actual_start_s = 4, .predicted_run_s = 5,
                                     .actual_run_s = 0}});
  EXPECT_EQ(a[0].runtime_rel_error.n, 0);
  EXPECT_EQ(a[0].start_error_s.n, 1);
  EXPECT_DOUBLE_EQ(a[0].start_error_s.median, 3);
}

}  // namespace
}  // namespace muster::model
