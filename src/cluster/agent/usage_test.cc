#include "cluster/agent/usage.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace muster::agent {
namespace {

TEST(Usage, ParseProcStat) {
  auto s = ParseProcStat(
      "4242 (my (odd) prog) S 1 4240 4240 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 2 3");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->pid, 4242);
  EXPECT_EQ(s->pgrp, 4240);
  EXPECT_EQ(s->cpu_ticks, 300u);
  EXPECT_EQ(s->start_ticks, 1u);
  EXPECT_FALSE(ParseProcStat("garbage").has_value());
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2").has_value());
}

TEST(Usage, ParseStatm) {
  EXPECT_EQ(ParseStatmResident("1000 250 30 1 0 100 0\n"), 250);
  EXPECT_EQ(ParseStatmResident(""), std::nullopt);
}

TEST(Usage, SamplesABusyGroup) {
  // A child in its own group burns CPU for 600 ms of wall time; the sampler sees its CPU time
  // grow, turns the growth into a load, and never reports more than the child really used.
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < end) x = x + 1;
    _exit(0);
  }
  setpgid(pid, pid);
  UsageSampler sampler("/proc", nullptr, {});
  RunningTask t{.job_id = 1, .task_index = 0, .attempt = 1, .pid = pid, .start_ms = 0};
  auto first = sampler.Sample({t}, 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto second = sampler.Sample({t}, 1400);
  ASSERT_EQ(first.tasks_size(), 1);
  ASSERT_EQ(second.tasks_size(), 1);
  const double c1 = first.tasks(0).cpu_seconds(), c2 = second.tasks(0).cpu_seconds();
  EXPECT_GT(c2, c1);  // busy for the whole interval (even on a crowded machine)
  EXPECT_EQ(second.tasks(0).processes(), 1);
  EXPECT_NEAR(second.cpu_load(), (c2 - c1) / 0.4, 1e-9);
  EXPECT_LE(second.cpu_load(), 1.1);  // one thread cannot use more than one core
  rusage ru{};
  int status;
  ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
  const double used = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                      ru.ru_stime.tv_usec / 1e6;
  EXPECT_LE(c2, used + 0.02);
  auto gone = sampler.Sample({t}, 1800);
  EXPECT_EQ(gone.tasks_size(), 0);
}

}  // namespace
}  // namespace muster::agent
