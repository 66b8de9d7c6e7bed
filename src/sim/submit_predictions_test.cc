// Predictions made at submit in a replay: what each predictor knew, when, and the figures.
#include "sim/submit_predictions.h"

#include <gtest/gtest.h>

#include "sim/engine.h"
#include "sim/generator.h"

namespace muster::sim {
namespace {

const PredictorAccuracy& Named(const PredictionReport& r, const std::string& name) {
  for (const auto& p : r.predictors)
    if (p.name == name) return p;
  ADD_FAILURE() << "no predictor " << name;
  static PredictorAccuracy none;
  return none;
}

TEST(SimPredictions, OnAFifoQueueMusterLearnsEachClassAndPredictsStartsTheBaselinesMiss) {
  // One GPU; two classes (users a and b) of fixed run times, 100 s and 1000 s, arriving every
  // 500 s in turn (1,100 s of work every 1,000 s): a queue builds, and a start depends on the run
  // times of the jobs ahead.
  Workload w;
  w.users = {"a", "b"};
  for (int i = 0; i < 40; ++i) {
    SimJob j;
    j.submit_ms = i * 500'000;
    j.user = i % 2;
    j.duration_ms = j.user == 0 ? 100'000 : 1'000'000;
    w.jobs.push_back(j);
  }
  SimOptions o;
  o.predict = true;
  auto r = Simulate(w, ParseClusterShape("1x1").value(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->prediction.has_value());
  const PredictionReport& p = *r->prediction;
  EXPECT_EQ(p.predicted_jobs, 40);
  EXPECT_EQ(p.unprojected_jobs, 0);
  ASSERT_EQ(p.predictors.size(), 3u);
  EXPECT_EQ(p.predictors[0].name, "muster");
  const model::Accuracy& m = Named(p, "muster").overall;
  const model::Accuracy& mean = Named(p, "mean_so_far").overall;
  const model::Accuracy& last = Named(p, "last_two_of_class").overall;
  EXPECT_EQ(m.runtime_rel_error.n, 40);
  // Only the jobs that arrived before any of their class had finished are guessed; the class's
  // run time is exact once one has.
  EXPECT_DOUBLE_EQ(m.runtime_rel_error.median, 0);
  EXPECT_DOUBLE_EQ(last.runtime_rel_error.median, 0);  // fixed run times: the last two are exact
  EXPECT_GT(mean.runtime_rel_error.median, 0.5);       // the mean of 100 s and 1000 s fits neither
  EXPECT_LT(m.start_error_s.median, mean.start_error_s.median);
  EXPECT_GT(m.interval_jobs, 0);
}

TEST(SimPredictions, NoPeekingAJobIsPredictedOnlyFromJobsThatFinishedBeforeItArrived) {
  // Two jobs of one class: the second arrives while the first still runs, so nobody has finished
  // and every predictor gives the default; a third arrives after the first finished.
  Workload w;
  w.users = {"u"};
  for (auto [t, d] : std::vector<std::pair<int, int>>{{0, 50}, {10, 50}, {200, 50}}) {
    SimJob j;
    j.submit_ms = t * 1000;
    j.duration_ms = d * 1000;
    w.jobs.push_back(j);
  }
  SubmitPredictions sp(w);
  sp.PredictRuns({0});
  sp.ProjectStarts({0}, 0, 0, {}, {{0, 1, 0}}, {0});
  sp.PredictRuns({1});
  sp.ProjectStarts({1}, 10'000, 0, {1}, {{0, 1, 0}}, {});
  EXPECT_DOUBLE_EQ(sp.PredictedRunS(1, 0), kDefaultRunS) << "nothing had finished";
  sp.Finished(0, 50);
  sp.PredictRuns({2});
  EXPECT_DOUBLE_EQ(sp.PredictedRunS(2, 0), 50);
  EXPECT_DOUBLE_EQ(sp.PredictedRunS(2, SubmitPredictions::PredictorIndex("last_two_of_class")), 50);
  sp.ProjectStarts({2}, 200'000, 1, {}, {{1, 1, 200'000}}, {2});
  const PredictionReport r =
      sp.Report({0, 10'000, 200'000}, {0, 50'000, 200'000}, {50'000, 100'000, 250'000}, {1, 1, 1});
  const model::Accuracy& m = Named(r, "muster").overall;
  // Job 0 and 1: the default (1 h) for 50 s; job 2: the class's one run, exact.
  EXPECT_EQ(m.runtime_rel_error.n, 3);
  EXPECT_NEAR(m.runtime_rel_error.median, (kDefaultRunS - 50) / 50, 1e-9);
  // Job 1 was predicted to start when job 0's predicted hour ran out, 3590 s after its submit;
  // it started after 40 s. Jobs 0 and 2 started at once, as predicted.
  EXPECT_EQ(m.start_error_s.n, 3);
  EXPECT_DOUBLE_EQ(m.start_error_s.median, 0);
  EXPECT_NEAR(m.start_error_s.p90, 0.8 * 3550, 1e-6);
}

TEST(SimPredictions, TheSchedulerSeesThePredictorsRunTimesWhenAsked) {
  // One GPU. Class a ran 10 s, class b 300 s; then a blocker; then an a job that will take
  // 500 s and a b job that will take 20 s wait behind it. sjf on the trace's durations runs
  // the b job first; on muster's predictions (what a real scheduler knows) the a job.
  Workload w;
  w.users = {"a", "b", "c"};
  for (auto [t, d, u] : std::vector<std::tuple<int, int, int>>{
           {0, 10, 0}, {20, 300, 1}, {400, 1000, 2}, {500, 500, 0}, {510, 20, 1}}) {
    SimJob j;
    j.submit_ms = t * 1000;
    j.duration_ms = d * 1000;
    j.user = u;
    w.jobs.push_back(j);
  }
  const ClusterConfig c = ParseClusterShape("1x1").value();
  SimOptions o{.policy = "sjf", .keep_outcomes = true};
  auto oracle = Simulate(w, c, o);
  o.durations = "muster";
  auto predicted = Simulate(w, c, o);
  ASSERT_TRUE(oracle.ok() && predicted.ok());
  EXPECT_EQ(oracle->outcomes[4].first_start_ms, 1'400'000);  // b's 20 s job first
  EXPECT_EQ(oracle->outcomes[3].first_start_ms, 1'420'000);
  EXPECT_EQ(predicted->outcomes[3].first_start_ms, 1'400'000);  // a's, predicted at 10 s
  EXPECT_EQ(predicted->outcomes[4].first_start_ms, 1'900'000);
  EXPECT_EQ(predicted->durations, "muster");
  o.durations = "psychic";
  EXPECT_EQ(Simulate(w, c, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(SimPredictions, OffByDefaultAndTheScheduleIsTheSameWithIt) {
  GeneratorOptions g;
  g.jobs = 400;
  g.rate_per_hour = 300;
  g.seed = 4;
  const Workload w = Generate(g);
  const ClusterConfig c = ParseClusterShape("4x4").value();
  SimOptions off;
  auto a = Simulate(w, c, off);
  SimOptions on;
  on.predict = true;
  auto b = Simulate(w, c, on);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->prediction.has_value());
  ASSERT_TRUE(b->prediction.has_value());
  EXPECT_DOUBLE_EQ(a->jct_s.mean, b->jct_s.mean) << "predictions observe; they do not schedule";
  EXPECT_EQ(a->passes, b->passes);
  EXPECT_EQ(b->prediction->predicted_jobs, 400);
  const model::Accuracy& m = Named(*b->prediction, "muster").overall;
  EXPECT_GT(m.interval_jobs, 300);
  EXPECT_GT(m.interval_coverage, 0.5);
}

}  // namespace
}  // namespace muster::sim
