#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/job.h"
#include "core/node.h"
#include "core/resources.h"
#include "core/status.h"

namespace muster {
namespace {

TEST(Resources, ParsesCpuAndMemory) {
  EXPECT_EQ(ParseMilliCpus("1"), 1000);
  EXPECT_EQ(ParseMilliCpus("1.5"), 1500);
  EXPECT_EQ(ParseMilliCpus("250m"), 250);
  EXPECT_EQ(ParseMilliCpus("0.125"), 125);
  EXPECT_EQ(ParseMilliCpus("abc"), -1);
  EXPECT_EQ(ParseMilliCpus("1.2345"), -1);
  EXPECT_EQ(ParseMemoryMiB("512"), 512);
  EXPECT_EQ(ParseMemoryMiB("4G"), 4096);
  EXPECT_EQ(ParseMemoryMiB("2GiB"), 2048);
  EXPECT_EQ(ParseMemoryMiB("x"), -1);
  EXPECT_EQ(ParseMemoryMiB("5Q"), -1);
  EXPECT_EQ(FormatMilliCpus(1500), "1.5");
  EXPECT_EQ(FormatMilliCpus(2000), "2");
}

TEST(Node, CouldEverFitChecksPerGpuConstraints) {
  NodeSpec n{.name = "n1", .milli_cpus = 8000, .memory_mib = 16384,
             .gpus = {{0, "NVIDIA A100", 40960, false}, {1, "NVIDIA A100", 40960, false}}};
  ResourceRequest r{.milli_cpus = 1000, .memory_mib = 1024, .gpus = 2};
  EXPECT_TRUE(n.CouldEverFit(r));
  r.gpus = 3;
  EXPECT_FALSE(n.CouldEverFit(r));
  r.gpus = 1;
  r.min_gpu_memory_mib = 81920;
  EXPECT_FALSE(n.CouldEverFit(r));
  r.min_gpu_memory_mib = 0;
  r.gpu_model = "H100";
  EXPECT_FALSE(n.CouldEverFit(r));
  r.gpu_model = "A100";
  EXPECT_TRUE(n.CouldEverFit(r));
}

TEST(Job, ArrayRangeParsing) {
  auto r = ParseArrayRange("0-999%50");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 0);
  EXPECT_EQ(r->last, 999);
  EXPECT_EQ(r->throttle, 50);
  EXPECT_EQ(r->size(), 1000);
  EXPECT_FALSE(ParseArrayRange("9-1").ok());
  EXPECT_FALSE(ParseArrayRange("a-b").ok());
  EXPECT_FALSE(ParseArrayRange("0-9%0").ok());
  EXPECT_EQ(ParseArrayRange("7")->size(), 1);
}

// The numbers as received on the wire: nothing wraps before it is checked.
TEST(Job, ArrayRangeCheckRefusesWhatWouldWrapOrMislead) {
  auto ok = CheckArrayRange(5, 5, 0);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 1);
  EXPECT_EQ(CheckArrayRange(0, kMaxArrayTasks - 1, 3)->size(), kMaxArrayTasks);
  EXPECT_EQ(CheckArrayRange(0, kMaxArrayTasks, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(CheckArrayRange(-1, 3, 0).ok());
  EXPECT_FALSE(CheckArrayRange(3, 2, 0).ok());  // would read as "not an array"
  EXPECT_FALSE(CheckArrayRange(0, 3, -1).ok());
  EXPECT_FALSE(CheckArrayRange(std::numeric_limits<int32_t>::min(),
                               std::numeric_limits<int32_t>::max(), 0).ok());
  EXPECT_EQ(ParseArrayRange("9-1").status().message(), "array range '9-1' ends before it starts");
}

TEST(Job, ValidateRejectsBadSpecs) {
  JobSpec s;
  EXPECT_EQ(s.Validate().code(), StatusCode::kInvalidArgument);  // no command
  s.command = {"/bin/true"};
  EXPECT_TRUE(s.Validate().ok());
  s.gang = true;
  s.tasks = 3;
  s.ranks_per_node = 2;
  EXPECT_FALSE(s.Validate().ok());
  s.ranks_per_node = 0;
  EXPECT_TRUE(s.Validate().ok());
  s.array = *ParseArrayRange("0-3");
  EXPECT_FALSE(s.Validate().ok());  // gang and array
}

TEST(Job, ValidateRefusesNonFiniteAndOversizedInput) {
  auto ok = [] {
    JobSpec s;
    s.command = {"/bin/true"};
    return s;
  };
  for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL, 1e300, -1.0}) {
    JobSpec s = ok();
    s.est_time_s = bad;
    EXPECT_EQ(s.Validate().code(), StatusCode::kInvalidArgument) << bad;
    s = ok();
    s.est_work = bad;
    EXPECT_EQ(s.Validate().code(), StatusCode::kInvalidArgument) << bad;
  }
  JobSpec s = ok();
  s.est_time_s = 3600;
  EXPECT_TRUE(s.Validate().ok());
  s.name = std::string(SpecLimits::kName + 1, 'n');
  EXPECT_FALSE(s.Validate().ok());
  s = ok();
  s.command.assign(SpecLimits::kArgs + 1, "x");
  EXPECT_FALSE(s.Validate().ok());
  s = ok();
  s.env["BIG"] = std::string(SpecLimits::kEnvBytes, 'v');
  EXPECT_NE(s.Validate().message().find("environment"), std::string::npos);
  s = ok();
  s.resources.gpus = SpecLimits::kGpus + 1;
  EXPECT_FALSE(s.Validate().ok());
  s = ok();
  s.priority = 2000000;
  EXPECT_FALSE(s.Validate().ok());
  s = ok();
  s.after.assign(SpecLimits::kAfter + 1, 1);
  EXPECT_FALSE(s.Validate().ok());
}

TEST(Units, DurationsInEveryUnitTheCommandsAccept) {
  EXPECT_EQ(ParseDurationMs("90"), 90000);
  EXPECT_EQ(ParseDurationMs("1.5s"), 1500);
  EXPECT_EQ(ParseDurationMs("500ms"), 500);
  EXPECT_EQ(ParseDurationMs("2m"), 120000);
  EXPECT_EQ(ParseDurationMs("2min"), 120000);
  EXPECT_EQ(ParseDurationMs("1h"), 3600000);
  EXPECT_EQ(ParseDurationMs("30d"), 30LL * 86400000);
  for (const char* bad : {"", "s", "-1s", "1x", "nan", "inf", "1e300d"})
    EXPECT_EQ(ParseDurationMs(bad), -1) << bad;
}

TEST(Units, TimeLimitsInUnitsAndInSlurmsForms) {
  EXPECT_EQ(ParseTimeLimitMs("2h"), 7200000);
  EXPECT_EQ(ParseTimeLimitMs("1h30m"), 5400000);
  EXPECT_EQ(ParseTimeLimitMs("3s"), 3000);
  EXPECT_EQ(ParseTimeLimitMs("1.5h"), 5400000);
  EXPECT_EQ(ParseTimeLimitMs("30"), 30 * 60000);             // MM: minutes, as sbatch
  EXPECT_EQ(ParseTimeLimitMs("5:30"), (5 * 60 + 30) * 1000);  // MM:SS
  EXPECT_EQ(ParseTimeLimitMs("1:30:00"), 5400000);           // HH:MM:SS
  EXPECT_EQ(ParseTimeLimitMs("2-12"), (2 * 24 + 12) * 3600000LL);  // D-HH
  EXPECT_EQ(ParseTimeLimitMs("1-00:30"), (24 * 60 + 30) * 60000LL);
  EXPECT_EQ(ParseTimeLimitMs("1-01:02:03"), ((25 * 60 + 2) * 60 + 3) * 1000LL);
  for (const char* bad : {"", "h", "1:2:3:4", "1-", "-5", "1x", "1h-2", "::", "2hh", "1-2-3"})
    EXPECT_EQ(ParseTimeLimitMs(bad), -1) << bad;
  EXPECT_EQ(FormatDurationMs(5400000), "1h30m");
  EXPECT_EQ(FormatDurationMs(3000), "3s");
  EXPECT_EQ(FormatDurationMs(90061000), "1d1h1m1s");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
}

TEST(Job, TimeLimitsAreValidated) {
  JobSpec s;
  s.command = {"true"};
  s.time_limit_ms = 3000;
  EXPECT_TRUE(s.Validate().ok());
  s.time_limit_ms = -1;
  EXPECT_FALSE(s.Validate().ok());
  s.time_limit_ms = SpecLimits::kTimeLimitMs + 1;
  EXPECT_FALSE(s.Validate().ok());
  s.time_limit_ms = 3000;
  s.signal_grace_ms = SpecLimits::kSignalGraceMs + 1;
  EXPECT_FALSE(s.Validate().ok());
  s.signal_grace_ms = 0;
  s.requeue_on_timeout = true;
  EXPECT_NE(s.Validate().message().find("checkpointable"), std::string::npos);
  s.checkpointable = true;
  EXPECT_TRUE(s.Validate().ok());
}

TEST(StateMachine, ATimeoutEndsARunningTaskForGood) {
  EXPECT_TRUE(CheckTransition(TaskState::kRunning, TaskState::kTimeout).ok());
  EXPECT_TRUE(CheckTransition(TaskState::kLaunching, TaskState::kTimeout).ok());
  EXPECT_FALSE(CheckTransition(TaskState::kPending, TaskState::kTimeout).ok());
  for (auto to : {TaskState::kPending, TaskState::kRunning, TaskState::kFailed})
    EXPECT_FALSE(CheckTransition(TaskState::kTimeout, to).ok());
  EXPECT_TRUE(IsTerminal(TaskState::kTimeout));
  EXPECT_TRUE(CheckTransition(JobState::kRunning, JobState::kTimeout).ok());
  EXPECT_FALSE(CheckTransition(JobState::kTimeout, JobState::kPending).ok());
  EXPECT_TRUE(IsTerminal(JobState::kTimeout));
  EXPECT_EQ(ParseJobState("timeout"), JobState::kTimeout);
  EXPECT_EQ(ParseTaskState("timeout"), TaskState::kTimeout);
}

TEST(StateMachine, RejectsIllegalTransitions) {
  EXPECT_TRUE(CheckTransition(TaskState::kPending, TaskState::kLaunching).ok());
  EXPECT_TRUE(CheckTransition(TaskState::kLaunching, TaskState::kRunning).ok());
  EXPECT_TRUE(CheckTransition(TaskState::kRunning, TaskState::kSucceeded).ok());
  EXPECT_TRUE(CheckTransition(TaskState::kLost, TaskState::kPending).ok());
  EXPECT_EQ(CheckTransition(TaskState::kSucceeded, TaskState::kRunning).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_FALSE(CheckTransition(TaskState::kPending, TaskState::kRunning).ok());
  EXPECT_FALSE(CheckTransition(TaskState::kCancelled, TaskState::kPending).ok());
  EXPECT_TRUE(CheckTransition(JobState::kPending, JobState::kRunning).ok());
  EXPECT_FALSE(CheckTransition(JobState::kSucceeded, JobState::kPending).ok());
}

TEST(Status, ResultCarriesValueOrError) {
  Result<int> a = 3;
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(*a, 3);
  Result<int> b = Status::NotFound("job 7");
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.status().ToString(), "not found: job 7");
}

}  // namespace
}  // namespace muster
