// The Philly trace's statistics as documented in shared/data/README.md, and a full replay on
// 2,000 GPUs that conserves every job and GPU-second. Skipped when the data is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <queue>

#include "sim/engine.h"
#include "sim/io/trace_reader.h"

namespace muster::sim {
namespace {

std::string PhillyPath() {
  const char* src = std::getenv("MUSTER_SOURCE_DIR");
  std::filesystem::path root = src ? src : MUSTER_SOURCE_FALLBACK;
  return (root / ".." / "shared" / "data" / "traces" / "philly.csv").string();
}

class PhillyTrace : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = PhillyPath();
    if (!std::filesystem::exists(path_)) GTEST_SKIP() << "Philly trace not found at " << path_;
    auto r = io::ReadTraceFile(path_, io::TraceFormat::kPhilly);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    read_ = std::move(r).value();
  }
  std::string path_;
  io::TraceRead read_;
};

TEST_F(PhillyTrace, StatsMatchTheDataReadme) {
  EXPECT_TRUE(read_.bad_rows.empty());
  WorkloadStats s = ComputeStats(read_.workload);
  EXPECT_EQ(s.jobs, 82247);
  EXPECT_NEAR(s.single_gpu_fraction, 0.93, 0.005);
  EXPECT_DOUBLE_EQ(s.median_duration_s, 1144);
  EXPECT_NEAR(s.mean_duration_s, 13136, 0.5);
  EXPECT_EQ(s.users, 15);
  EXPECT_EQ(FormatUtc(s.first_submit_ms).substr(0, 10), "2017-09-04");
  EXPECT_EQ(FormatUtc(s.last_submit_ms).substr(0, 10), "2017-12-22");
}

TEST_F(PhillyTrace, ReplayOn2000GpusConservesJobsAndGpuSeconds) {
  auto c = ParseClusterShape("250x8").value();
  auto r = Simulate(read_.workload, c, {.policy = "fifo", .backfill = true});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  WorkloadStats s = ComputeStats(read_.workload);
  EXPECT_EQ(r->completed, 82247);
  EXPECT_EQ(r->rejected, 0);
  EXPECT_EQ(r->unfinished, 0);
  EXPECT_NEAR(r->busy_gpu_seconds, s.total_gpu_seconds, 1e-6 * s.total_gpu_seconds);
  EXPECT_GE(r->jct_s.mean, s.mean_duration_s - 1e-6);
  EXPECT_GT(r->utilization, 0.05);
  EXPECT_LT(r->utilization, 1.0);
}

// Strict FIFO without backfill over a pool of 480 GPUs (ranks need one GPU each and may span
// nodes, so 60x8 is a pool), computed independently of the engine and the scheduler.
double PoolFifoMeanJctS(const Workload& w, int gpus) {
  std::vector<int> order(w.jobs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return w.jobs[a].submit_ms < w.jobs[b].submit_ms; });
  std::priority_queue<std::pair<TimeMs, int>, std::vector<std::pair<TimeMs, int>>, std::greater<>>
      running;
  std::deque<int> queue;
  size_t next = 0;
  int free = gpus;
  double sum = 0;
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
      const SimJob& j = w.jobs[queue.front()];
      queue.pop_front();
      free -= j.gpus;
      running.push({t + j.duration_ms, j.gpus});
      sum += static_cast<double>(t + j.duration_ms - j.submit_ms) / 1000.0;
    }
  }
  return sum / static_cast<double>(w.jobs.size());
}

TEST_F(PhillyTrace, FifoOnABusyClusterMatchesAnIndependentReference) {
  auto c = ParseClusterShape("60x8").value();
  auto r = Simulate(read_.workload, c, {.policy = "fifo", .backfill = false});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->completed, 82247);
  EXPECT_DOUBLE_EQ(r->jct_s.mean, PoolFifoMeanJctS(read_.workload, 480));
  EXPECT_GT(r->queue_delay_s.mean, 86400);  // FIFO on 480 GPUs queues for days
}

}  // namespace
}  // namespace muster::sim
