#include "sim/workload.h"

#include <gtest/gtest.h>

#include "sim/cluster_config.h"
#include "sim/generator.h"
#include "sim/metrics.h"
#include "sim/policy.h"
#include "sim/queue_index.h"

namespace muster::sim {
namespace {

TEST(SimWorkload, UtcRoundTripAndKnownEpochs) {
  TimeMs t = 0;
  ASSERT_TRUE(ParseUtc("1970-01-01 00:00:00", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseUtc("2017-09-04 10:30:41", &t));
  EXPECT_EQ(t, 1504521041000);  // date -u -d '2017-09-04 10:30:41' +%s
  EXPECT_EQ(FormatUtc(t), "2017-09-04 10:30:41");
  ASSERT_TRUE(ParseUtc("2016-02-29 23:59:59", &t));
  EXPECT_EQ(FormatUtc(t), "2016-02-29 23:59:59");
  EXPECT_FALSE(ParseUtc("2017-02-29 00:00:00", &t));
  EXPECT_FALSE(ParseUtc("2017-13-01 00:00:00", &t));
  EXPECT_FALSE(ParseUtc("2017-10-09T07:01:55", &t));
  EXPECT_FALSE(ParseUtc("2017-10-09 07:01", &t));
  EXPECT_FALSE(ParseUtc("2017-1x-09 07:01:55", &t));
}

TEST(SimWorkload, StatsOfSmallWorkload) {
  Workload w;
  w.users = {"a", "b"};
  for (auto [t, d, g] : {std::tuple{5, 10, 1}, {1, 30, 1}, {9, 20, 4}, {3, 40, 1}})
    w.jobs.push_back({t * 1000LL, d * 1000LL, g, 0, 0, 0});
  WorkloadStats s = ComputeStats(w);
  EXPECT_EQ(s.jobs, 4);
  EXPECT_DOUBLE_EQ(s.median_duration_s, 25);  // (20 + 30) / 2
  EXPECT_DOUBLE_EQ(s.mean_duration_s, 25);
  EXPECT_DOUBLE_EQ(s.single_gpu_fraction, 0.75);
  EXPECT_EQ(s.gpu_mix.at(1), 3);
  EXPECT_EQ(s.gpu_mix.at(4), 1);
  EXPECT_EQ(s.first_submit_ms, 1000);
  EXPECT_EQ(s.last_submit_ms, 9000);
  EXPECT_DOUBLE_EQ(s.total_gpu_seconds, 10 + 30 + 80 + 40);
  w.jobs.pop_back();
  EXPECT_DOUBLE_EQ(ComputeStats(w).median_duration_s, 20);
  EXPECT_EQ(ComputeStats(Workload{}).jobs, 0);
}

TEST(SimGenerator, SeededAndShapedAsAsked) {
  auto o = ParseGeneratorSpec("jobs=20000,rate=3600,seed=42,median=100,sigma=1,sizes=1:80/8:20");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  Workload a = Generate(*o), b = Generate(*o);
  ASSERT_EQ(a.jobs.size(), 20000u);
  for (size_t i = 0; i < a.jobs.size(); ++i) {
    EXPECT_EQ(a.jobs[i].submit_ms, b.jobs[i].submit_ms);
    EXPECT_EQ(a.jobs[i].duration_ms, b.jobs[i].duration_ms);
    EXPECT_EQ(a.jobs[i].gpus, b.jobs[i].gpus);
  }
  WorkloadStats s = ComputeStats(a);
  // Poisson at 1 job/s: the span is about 20000 s; log-normal median 100 s; 80% one-GPU jobs.
  EXPECT_NEAR((s.last_submit_ms - s.first_submit_ms) / 1000.0, 20000, 600);
  EXPECT_NEAR(s.median_duration_s, 100, 5);
  EXPECT_NEAR(s.single_gpu_fraction, 0.8, 0.02);
  EXPECT_EQ(s.gpu_mix.size(), 2u);
  o->seed = 43;
  EXPECT_NE(Generate(*o).jobs[0].submit_ms, a.jobs[0].submit_ms);
  for (const char* bad : {"jobs=-1", "rate=0", "sizes=1:0", "sizes=x", "color=red", "seed"})
    EXPECT_FALSE(ParseGeneratorSpec(bad).ok()) << bad;
}

TEST(SimClusterConfig, ShapesAndFiles) {
  auto c = ParseClusterShape("250x8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->TotalGpus(), 2000);
  EXPECT_EQ(c->TotalNodes(), 250);
  for (const char* bad : {"250", "x8", "0x8", "8x0", "2x8x", "ax8", "2x8 "})
    EXPECT_FALSE(ParseClusterShape(bad).ok()) << bad;
  auto f = ParseClusterFile("# comment\n2 8 V100 1.0\n\n3 4 K80 0.5  # slow\n");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->TotalGpus(), 28);
  auto nodes = BuildNodes(*f);
  ASSERT_EQ(nodes.size(), 5u);
  EXPECT_EQ(nodes[4].gpus.size(), 4u);
  EXPECT_DOUBLE_EQ(nodes[4].speed, 0.5);
  auto bad = ParseClusterFile("2 8 V100 1.0\n3 4 K80\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(ParseClusterFile("2 8 V100 -1\n").ok());
  EXPECT_FALSE(ParseClusterFile("# nothing\n").ok());
}

TEST(SimMetrics, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  Distribution d = Summarize(v);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_DOUBLE_EQ(d.median, 50.5);
  EXPECT_DOUBLE_EQ(d.p95, 95);
  EXPECT_DOUBLE_EQ(d.p99, 99);
  EXPECT_DOUBLE_EQ(d.max, 100);
  std::vector<double> one{7};
  EXPECT_DOUBLE_EQ(Summarize(one).p99, 7);
  auto cdf = CdfPoints(v, 5);
  ASSERT_EQ(cdf.size(), 5u);
  EXPECT_DOUBLE_EQ(cdf.front().first, 1);
  EXPECT_DOUBLE_EQ(cdf.back().first, 100);
  EXPECT_DOUBLE_EQ(cdf.back().second, 1);
}

TEST(SimMetrics, SeriesIntegratesAndMerges) {
  TimeSeries s(0, 10, 4);
  s.SetLevels(2, 1);
  EXPECT_FALSE(s.AdvanceTo(5));
  s.SetLevels(4, 0);
  EXPECT_TRUE(s.AdvanceTo(20));  // crosses 10 and 20
  s.Sample(0.5);
  auto p = s.Points();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_DOUBLE_EQ(p[0].busy_gpus, 3);  // (2*5 + 4*5) / 10
  EXPECT_DOUBLE_EQ(p[0].queued_jobs, 0.5);
  EXPECT_DOUBLE_EQ(p[1].busy_gpus, 4);
  EXPECT_DOUBLE_EQ(p[0].jain, 0.5);
  // Growing past 4 buckets merges pairs and doubles the width.
  s.SetLevels(0, 0);
  s.AdvanceTo(80);
  s.Sample(1);
  EXPECT_EQ(s.width_ms(), 20);
  p = s.Points();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_DOUBLE_EQ(p[0].busy_gpus, 3.5);  // 70 GPU-ms over 20 ms
  EXPECT_DOUBLE_EQ(p[1].busy_gpus, 0);
  EXPECT_DOUBLE_EQ(p[1].jain, 1);
}

TEST(SimPolicy, NamesLevelsAndPreemptionChoice) {
  EXPECT_TRUE(ResolvePolicy("srtf")->preemptive);
  EXPECT_EQ(ResolvePolicy("las")->scheduler_policy, "las");
  EXPECT_FALSE(ResolvePolicy("lottery").ok());
  // Queued job with key 5 needs 4 GPUs, 1 free; running keys 9 (2 GPUs), 7 (2), 3 (4).
  std::vector<PreemptionCandidate> q{{{5, 0, 10}, 4}};
  std::vector<PreemptionCandidate> r{{{9, 0, 1}, 2}, {{7, 0, 2}, 2}, {{3, 0, 3}, 4}};
  EXPECT_EQ(ChoosePreemptions(1, q, r), (std::vector<int>{0, 1}));
  // Only strictly worse jobs may be preempted: key 9 alone (2 + 1 free < 4) is not enough.
  r[1].order.key = 5;
  r[1].order.id = 11;  // same key, later id: strictly worse
  EXPECT_EQ(ChoosePreemptions(1, q, r), (std::vector<int>{0, 1}));
  r[1].order.id = 9;  // same key, earlier id: better, protected
  EXPECT_TRUE(ChoosePreemptions(1, q, r).empty());
  // Enough free GPUs: nobody is preempted.
  EXPECT_TRUE(ChoosePreemptions(4, q, r).empty());
  // A victim whose GPUs are left over is kept: 8-GPU worst job covers the need alone.
  std::vector<PreemptionCandidate> r2{{{9, 0, 1}, 8}, {{8, 0, 2}, 1}};
  EXPECT_EQ(ChoosePreemptions(0, q, r2), (std::vector<int>{0}));
}

TEST(SimQueueIndex, OrderSizesAndFairshareView) {
  QueueIndex q(6, /*per_user=*/true);
  q.Insert(0, {0, 10, 0}, 0, 4);
  q.Insert(1, {0, 11, 1}, 0, 2);
  q.Insert(2, {0, 12, 2}, 0, 8);
  q.Insert(3, {0, 13, 3}, 1, 1);
  EXPECT_EQ(q.MinGpus(), 1);
  std::vector<int> v;
  q.View(2, &v);
  EXPECT_EQ(v, (std::vector<int>{0, 3}));  // each user's oldest first
  q.View(10, &v);
  EXPECT_EQ(v, (std::vector<int>{0, 1, 2, 3}));
  q.Erase(3);
  EXPECT_EQ(q.MinGpus(), 2);
  q.Erase(1);
  q.Erase(0);
  EXPECT_EQ(q.MinGpus(), 8);
  EXPECT_EQ(q.size(), 1u);
}

TEST(SimQueueIndex, FittingPrefixStopsBeforeTheFirstJobThatCannotFit) {
  QueueIndex q(5, /*per_user=*/false);
  q.Insert(0, {0, 10, 0}, 0, 4);
  q.Insert(1, {0, 11, 1}, 0, 2);
  q.Insert(2, {0, 12, 2}, 0, 8);
  q.Insert(3, {0, 13, 3}, 0, 1);
  std::vector<int> v;
  int blocked = 0;
  q.FittingPrefix(10, 7, &v, &blocked);
  EXPECT_EQ(v, (std::vector<int>{0, 1}));  // 4 + 2 fit in 7; 8 more would not
  EXPECT_EQ(blocked, 2);
  q.FittingPrefix(10, 3, &v, &blocked);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(blocked, 0);
  q.FittingPrefix(10, 15, &v, &blocked);
  EXPECT_EQ(v, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(blocked, -1);
  q.FittingPrefix(2, 15, &v, &blocked);  // the cap: the first two fit, nothing is blocked
  EXPECT_EQ(v, (std::vector<int>{0, 1}));
  EXPECT_EQ(blocked, -1);
  EXPECT_EQ(q.gpus(2), 8);
}

}  // namespace
}  // namespace muster::sim
