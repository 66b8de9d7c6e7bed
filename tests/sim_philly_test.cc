// The Philly trace's statistics as documented in shared/data/README.md, and a full replay on
// 2,000 GPUs that conserves every job and GPU-second. Skipped when the data is absent.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

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

}  // namespace
}  // namespace muster::sim
