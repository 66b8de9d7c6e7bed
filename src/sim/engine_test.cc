// Hand-computed timelines for FIFO, SJF, SRTF, LAS and backfill on tiny clusters, plus
// conservation, determinism and ordering properties on generated workloads.
#include "sim/engine.h"

#include <gtest/gtest.h>

#include <deque>
#include <numeric>
#include <queue>

#include "sim/generator.h"

namespace muster::sim {
namespace {

// Jobs given as (submit s, duration s, gpus).
Workload MakeWorkload(std::initializer_list<std::tuple<int, int, int>> jobs) {
  Workload w;
  w.users = {"u"};
  for (auto [t, d, g] : jobs) {
    SimJob j;
    j.submit_ms = t * 1000;
    j.duration_ms = d * 1000;
    j.gpus = g;
    w.jobs.push_back(j);
  }
  return w;
}

ClusterConfig Shape(int nodes, int gpus) {
  return ParseClusterShape(std::to_string(nodes) + "x" + std::to_string(gpus)).value();
}

SimResult RunSim(const Workload& w, const ClusterConfig& c, SimOptions o) {
  o.keep_outcomes = true;
  auto r = Simulate(w, c, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SimResult{};
}

// (start s, finish s) of each job.
std::vector<std::pair<double, double>> Timeline(const SimResult& r) {
  std::vector<std::pair<double, double>> t;
  for (const auto& o : r.outcomes) t.push_back({o.first_start_ms / 1000.0, o.finish_ms / 1000.0});
  return t;
}

using TL = std::vector<std::pair<double, double>>;

TEST(SimEngine, FifoTimelineOnOneNode) {
  // A takes the whole node; B and C both fit once it is done.
  Workload w = MakeWorkload({{0, 10, 4}, {1, 5, 2}, {2, 3, 1}});
  SimResult r = RunSim(w, Shape(1, 4), {.policy = "fifo"});
  EXPECT_EQ(Timeline(r), (TL{{0, 10}, {10, 15}, {10, 13}}));
  EXPECT_DOUBLE_EQ(r.jct_s.mean, (10 + 14 + 11) / 3.0);
  EXPECT_DOUBLE_EQ(r.makespan_s, 15);
  EXPECT_EQ(r.completed, 3);
  EXPECT_DOUBLE_EQ(r.busy_gpu_seconds, 40 + 10 + 3);
}

// A holds 2 of 4 GPUs until 10; B needs all 4; C (2 GPUs, 3 s) fits in the hole before B's
// reservation at 10; D (2 GPUs, 20 s) would delay B, so it may not jump ahead.
Workload BackfillWorkload() {
  return MakeWorkload({{0, 10, 2}, {1, 5, 4}, {2, 3, 2}, {3, 20, 2}});
}

TEST(SimEngine, FifoWithoutBackfillKeepsOrder) {
  SimResult r = RunSim(BackfillWorkload(), Shape(1, 4), {.policy = "fifo", .backfill = false});
  EXPECT_EQ(Timeline(r), (TL{{0, 10}, {10, 15}, {15, 18}, {15, 35}}));
}

TEST(SimEngine, EasyBackfillFillsTheHoleOnly) {
  SimResult r = RunSim(BackfillWorkload(), Shape(1, 4), {.policy = "fifo", .backfill = true});
  EXPECT_EQ(Timeline(r), (TL{{0, 10}, {10, 15}, {2, 5}, {15, 35}}));
}

// One GPU; A runs first, then B (5 s), C (2 s), D (8 s) all arrive at 1.
Workload OneGpuWorkload() {
  return MakeWorkload({{0, 10, 1}, {1, 5, 1}, {1, 2, 1}, {1, 8, 1}});
}

TEST(SimEngine, FifoVersusSjfOnOneGpu) {
  SimResult fifo = RunSim(OneGpuWorkload(), Shape(1, 1), {.policy = "fifo"});
  EXPECT_EQ(Timeline(fifo), (TL{{0, 10}, {10, 15}, {15, 17}, {17, 25}}));
  EXPECT_DOUBLE_EQ(fifo.jct_s.mean, (10 + 14 + 16 + 24) / 4.0);
  SimResult sjf = RunSim(OneGpuWorkload(), Shape(1, 1), {.policy = "sjf"});
  EXPECT_EQ(Timeline(sjf), (TL{{0, 10}, {12, 17}, {10, 12}, {17, 25}}));
  EXPECT_DOUBLE_EQ(sjf.jct_s.mean, (10 + 16 + 11 + 24) / 4.0);
  EXPECT_DOUBLE_EQ(sjf.queue_delay_s.mean, (0 + 11 + 9 + 16) / 4.0);
  EXPECT_EQ(sjf.preemptions, 0);
}

TEST(SimEngine, SrtfPreemptsTheLongerJob) {
  // At 1, C (2 s) preempts A (9 s left); then B (5), D (8), A (9).
  SimResult r = RunSim(OneGpuWorkload(), Shape(1, 1), {.policy = "srtf"});
  EXPECT_EQ(r.preemptions, 1);
  EXPECT_EQ(r.outcomes[0].preemptions, 1);
  EXPECT_EQ(Timeline(r), (TL{{0, 25}, {3, 8}, {1, 3}, {8, 16}}));
  EXPECT_DOUBLE_EQ(r.jct_s.mean, (25 + 7 + 2 + 15) / 4.0);
  EXPECT_DOUBLE_EQ(r.busy_gpu_seconds, 25);
}

TEST(SimEngine, LasDemotesAtThresholdAndPreempts) {
  // Threshold 3 GPU-s. A demoted at 3 -> B runs, demoted at 6 -> C runs to 8 -> D runs, demoted
  // at 11; A (level 1, oldest) then resumes 11-18, then B 18-20, D 20-25.
  SimOptions o{.policy = "las"};
  o.las_thresholds_gpu_s = {3};
  SimResult r = RunSim(OneGpuWorkload(), Shape(1, 1), o);
  EXPECT_EQ(Timeline(r), (TL{{0, 18}, {3, 20}, {6, 8}, {8, 25}}));
  EXPECT_EQ(r.preemptions, 3);
  EXPECT_DOUBLE_EQ(r.jct_s.mean, (18 + 19 + 7 + 24) / 4.0);
}

TEST(SimEngine, MultiNodeSlowdownAndNodeSpeed) {
  // 4 GPUs over two 2-GPU nodes: 10 s x 1.5.
  Workload w = MakeWorkload({{0, 10, 4}});
  SimResult r = RunSim(w, Shape(2, 2), {.multi_node_slowdown = 1.5});
  EXPECT_EQ(Timeline(r), (TL{{0, 15}}));
  EXPECT_EQ(r.multi_node_jobs, 1);
  EXPECT_EQ(r.outcomes[0].max_nodes, 2);
  // A half-speed node doubles the run time.
  auto slow = ParseClusterFile("1 1 K80 0.5\n").value();
  SimResult s = RunSim(MakeWorkload({{0, 10, 1}}), slow, {});
  EXPECT_EQ(Timeline(s), (TL{{0, 20}}));
}

TEST(SimEngine, PassIntervalDelaysStartsToTheGrid) {
  // Passes at 0, 4, 8, 12, ... only: B (arrives at 1) waits for A's end at 10, starts at 12.
  SimOptions o{.policy = "fifo"};
  o.pass_interval_ms = 4000;
  SimResult r = RunSim(MakeWorkload({{0, 10, 1}, {1, 5, 1}}), Shape(1, 1), o);
  EXPECT_EQ(Timeline(r), (TL{{0, 10}, {12, 17}}));
  EXPECT_LE(r.passes, 3);
}

TEST(SimEngine, JobLargerThanClusterIsRejected) {
  SimResult r = RunSim(MakeWorkload({{0, 10, 8}, {0, 5, 1}}), Shape(1, 4), {});
  EXPECT_EQ(r.rejected, 1);
  EXPECT_TRUE(r.outcomes[0].rejected);
  EXPECT_EQ(r.completed, 1);
}

TEST(SimEngine, BadOptionsAreRefused) {
  Workload w = MakeWorkload({{0, 1, 1}});
  EXPECT_FALSE(Simulate(w, Shape(1, 1), {.policy = "lottery"}).ok());
  EXPECT_FALSE(Simulate(w, Shape(1, 1), {.placement = "random"}).ok());
  EXPECT_FALSE(Simulate(w, Shape(1, 1), {.multi_node_slowdown = 0.5}).ok());
  EXPECT_FALSE(Simulate(w, Shape(1, 1), {.queue_view = 0}).ok());
}

Workload Generated(uint64_t seed, int jobs, double rate) {
  GeneratorOptions g;
  g.jobs = jobs;
  g.seed = seed;
  g.rate_per_hour = rate;
  g.median_s = 600;
  g.sigma = 1.5;
  g.max_s = 86400;
  return Generate(g);
}

class SimPolicyProperty : public ::testing::TestWithParam<std::string> {};

TEST_P(SimPolicyProperty, EveryJobRunsToCompletionOnceAndGpuSecondsAreConserved) {
  Workload w = Generated(7, 400, 120);
  for (bool backfill : {false, true}) {
    SimResult r =
        RunSim(w, Shape(4, 8), {.policy = GetParam(), .backfill = backfill, .queue_view = 64});
    ASSERT_EQ(r.outcomes.size(), w.jobs.size());
    double want = 0;
    for (size_t i = 0; i < w.jobs.size(); ++i) {
      const JobOutcome& o = r.outcomes[i];
      EXPECT_EQ(o.completions, 1) << "job " << i;
      EXPECT_GE(o.first_start_ms, w.jobs[i].submit_ms);
      EXPECT_GE(o.finish_ms - o.first_start_ms, w.jobs[i].duration_ms);
      EXPECT_LE(o.max_gpus_held, w.jobs[i].gpus) << "job " << i;
      EXPECT_EQ(o.max_gpus_held, w.jobs[i].gpus);
      EXPECT_NEAR(o.gpu_seconds, w.jobs[i].gpus * w.jobs[i].duration_ms / 1000.0, 1e-6);
      want += w.jobs[i].gpus * w.jobs[i].duration_ms / 1000.0;
    }
    EXPECT_EQ(r.completed, static_cast<int64_t>(w.jobs.size()));
    EXPECT_EQ(r.unfinished, 0);
    EXPECT_NEAR(r.busy_gpu_seconds, want, 1e-3);
    EXPECT_GT(r.utilization, 0);
    EXPECT_LE(r.utilization, 1.0 + 1e-9);
  }
}

TEST_P(SimPolicyProperty, SameSeedSameResult) {
  SimResult a =
      RunSim(Generated(11, 300, 200), Shape(3, 4), {.policy = GetParam(), .backfill = true});
  SimResult b =
      RunSim(Generated(11, 300, 200), Shape(3, 4), {.policy = GetParam(), .backfill = true});
  ASSERT_EQ(a.outcomes.size(), b.outcomes.size());
  for (size_t i = 0; i < a.outcomes.size(); ++i) {
    EXPECT_EQ(a.outcomes[i].first_start_ms, b.outcomes[i].first_start_ms);
    EXPECT_EQ(a.outcomes[i].finish_ms, b.outcomes[i].finish_ms);
  }
  EXPECT_EQ(a.preemptions, b.preemptions);
  EXPECT_EQ(a.series.size(), b.series.size());
  SimResult c =
      RunSim(Generated(12, 300, 200), Shape(3, 4), {.policy = GetParam(), .backfill = true});
  EXPECT_NE(a.jct_s.mean, c.jct_s.mean);
}

INSTANTIATE_TEST_SUITE_P(Policies, SimPolicyProperty,
                         ::testing::Values("fifo", "sjf", "srtf", "las", "priority", "fairshare"));

// Independent reference: strict FIFO over a pool of GPUs (ranks need one GPU each and may span
// nodes, so the cluster is a pool). Returns each job's finish time.
std::vector<TimeMs> PoolFifo(const Workload& w, int gpus) {
  std::vector<int> order(w.jobs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return w.jobs[a].submit_ms < w.jobs[b].submit_ms; });
  std::vector<TimeMs> finish(w.jobs.size(), -1);
  std::priority_queue<std::pair<TimeMs, int>, std::vector<std::pair<TimeMs, int>>, std::greater<>>
      running;
  std::deque<int> queue;
  size_t next = 0;
  int free = gpus;
  while (next < order.size() || !running.empty()) {
    TimeMs t = next < order.size() ? w.jobs[order[next]].submit_ms : running.top().first;
    if (!running.empty()) t = std::min(t, running.top().first);
    while (!running.empty() && running.top().first == t) {
      free += running.top().second;
      running.pop();
    }
    while (next < order.size() && w.jobs[order[next]].submit_ms == t)
      queue.push_back(order[next++]);
    while (!queue.empty() && w.jobs[queue.front()].gpus <= free) {
      int j = queue.front();
      queue.pop_front();
      free -= w.jobs[j].gpus;
      finish[j] = t + w.jobs[j].duration_ms;
      running.push({finish[j], w.jobs[j].gpus});
    }
  }
  return finish;
}

TEST(SimEngine, FifoMatchesAGpuPoolReference) {
  for (uint64_t seed : {4, 5}) {
    Workload w = Generated(seed, 800, 300);
    SimResult r = RunSim(w, Shape(4, 8), {.policy = "fifo", .backfill = false, .queue_view = 16});
    std::vector<TimeMs> want = PoolFifo(w, 32);
    ASSERT_EQ(r.outcomes.size(), want.size());
    int64_t mismatches = 0;
    for (size_t i = 0; i < want.size(); ++i) mismatches += r.outcomes[i].finish_ms != want[i];
    EXPECT_EQ(mismatches, 0) << "seed " << seed;
    EXPECT_GT(r.max_queue, 16);  // the view was cut, yet strict FIFO stays exact
  }
}

TEST(SimEngine, SjfMeanJctNotAboveFifo) {
  for (uint64_t seed : {1, 2, 3}) {
    Workload w = Generated(seed, 500, 150);
    SimResult fifo = RunSim(w, Shape(4, 8), {.policy = "fifo"});
    SimResult sjf = RunSim(w, Shape(4, 8), {.policy = "sjf"});
    EXPECT_LE(sjf.jct_s.mean, fifo.jct_s.mean) << "seed " << seed;
    SimResult srtf = RunSim(w, Shape(4, 8), {.policy = "srtf"});
    EXPECT_LE(srtf.jct_s.mean, fifo.jct_s.mean) << "seed " << seed;
  }
}

TEST(SimEngine, QueueViewCapStillCompletesEverything) {
  Workload w = Generated(5, 600, 400);
  SimResult full = RunSim(w, Shape(2, 8), {.policy = "fifo", .queue_view = 100000});
  SimResult capped = RunSim(w, Shape(2, 8), {.policy = "fifo", .queue_view = 4});
  EXPECT_EQ(capped.completed, 600);
  EXPECT_GT(full.max_queue, 4);
  EXPECT_GT(capped.passes, 0);
}

TEST(SimEngine, SeriesCoversTheRunAndUtilizationMatches) {
  Workload w = Generated(3, 200, 100);
  SimOptions o{.policy = "fifo", .series_buckets = 16, .series_width_ms = 1000};
  SimResult r = RunSim(w, Shape(2, 8), o);
  ASSERT_FALSE(r.series.empty());
  EXPECT_LE(r.series.size(), 16u);
  double gpu_ms = 0;
  for (size_t i = 0; i < r.series.size(); ++i) {
    double start = r.series[i].t_s * 1000;
    double width = std::min<double>(r.series_width_ms, r.makespan_s * 1000 - start);
    gpu_ms += r.series[i].busy_gpus * width;
    EXPECT_GE(r.series[i].jain, 1.0 / 2 - 1e-9);
    EXPECT_LE(r.series[i].jain, 1.0 + 1e-9);
  }
  EXPECT_NEAR(gpu_ms / 1000, r.busy_gpu_seconds, r.busy_gpu_seconds * 1e-6);
}

}  // namespace
}  // namespace muster::sim
