#include "cluster/agent/cgroup_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "cluster/agent/spawn.h"

namespace muster::agent {
namespace {

std::optional<CgroupTree> RealTree(const std::string& id) {
  auto t = CgroupTree::Open("test-pool-" + id + "." + std::to_string(getpid()));
  if (!t.ok()) return std::nullopt;
  return std::move(t).value();
}

bool Uses(const CgroupTree& t, const std::string& controller) {
  for (const std::string& c : t.Controllers())
    if (c.starts_with(controller + " ")) return true;
  return false;
}

// Runs `script` under /bin/sh in the lease's cgroup; its wait status (-1: not started).
int RunIn(const CgroupPool::Lease& lease, const std::string& script, bool wait = true,
          int* pid = nullptr) {
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", script};
  req.stdout_fd = 1;
  req.stderr_fd = 2;
  req.cgroup_procs_fds = lease.made.procs_fds;
  SpawnResult r = Spawn(req);
  for (int f : lease.made.procs_fds) close(f);
  if (r.pid <= 0) return -1;
  if (pid) *pid = r.pid;
  int st = 0;
  if (wait) waitpid(r.pid, &st, 0);
  return st;
}

constexpr int64_t kMiB = 1 << 20;
const char* kHog400 = "exec python3 -c \"b = bytearray(b'x' * (400 << 20))\"";
const char* kAlloc100 = "exec python3 -c \"b = bytearray(b'x' * (100 << 20))\"";

// One cgroup serves three tasks in turn, each with its own limits, peak and counters.
TEST(CgroupPool, AReusedCgroupHasItsNewTasksLimitsPeakAndCounters) {
  auto tree = RealTree("reuse");
  if (!tree || !Uses(*tree, "memory")) GTEST_SKIP() << "no memory controller here";
  if (!tree->Reusable(tree->ShapeOf({.memory_bytes = 1, .pids = 64})))
    GTEST_SKIP() << "cgroups of this hierarchy are not reused (" << tree->Describe() << ")";
  {
    CgroupPool pool(&*tree);
    // 1: a 64 MiB limit, and a task that wants 400 MiB: killed, and the kill counted.
    auto first = pool.Take("1.0.1", {.memory_bytes = 64 * kMiB, .pids = 64});
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_TRUE(first->name.starts_with("pool.")) << first->name;
    const int st1 = RunIn(*first, kHog400);
    EXPECT_FALSE(WIFEXITED(st1) && WEXITSTATUS(st1) == 0) << "the hog was not held to 64 MiB";
    const CgroupUsage u1 = tree->Usage(first->name, first->made.since);
    EXPECT_GE(u1.oom_kills, 1);
    ASSERT_TRUE(pool.Give(first->name, first->made.shape));
    EXPECT_EQ(pool.idle(), 1u);

    // 2: the same cgroup, no memory limit now: the hog runs; no kill of the first one counts.
    auto second = pool.Take("1.0.2", {.pids = 64});
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_EQ(second->name, first->name) << "the idle cgroup was not reused";
    EXPECT_EQ(pool.idle(), 0u);
    const int st2 = RunIn(*second, std::string(kHog400) +
                                       "; end=$(($(date +%s%N) + 300000000)); "
                                       "while [ $(date +%s%N) -lt $end ]; do :; done");
    (void)st2;
    const CgroupUsage u2 = tree->Usage(second->name, second->made.since);
    EXPECT_EQ(u2.oom_kills, 0) << "the first task's kill counted against the second";
    EXPECT_GE(u2.peak_memory_bytes, 300 * kMiB);
    ASSERT_TRUE(pool.Give(second->name, second->made.shape));

    // 3: a 600 MiB limit and 100 MiB used: its peak is its own, not the 400 MiB before it, and
    // so is its CPU time.
    auto third = pool.Take("1.0.3", {.memory_bytes = 600 * kMiB, .pids = 64});
    ASSERT_TRUE(third.ok()) << third.status().ToString();
    EXPECT_EQ(third->name, first->name);
    const int st3 = RunIn(*third, kAlloc100);
    EXPECT_TRUE(WIFEXITED(st3) && WEXITSTATUS(st3) == 0) << st3;
    const CgroupUsage u3 = tree->Usage(third->name, third->made.since);
    EXPECT_GE(u3.peak_memory_bytes, 90 * kMiB);
    EXPECT_LT(u3.peak_memory_bytes, 300 * kMiB) << "the peak was not reset for the new task";
    if (u2.cpu_seconds >= 0 && u3.cpu_seconds >= 0)
      EXPECT_LT(u3.cpu_seconds, u2.cpu_seconds) << "CPU time counted from before the task";
    ASSERT_TRUE(pool.Give(third->name, third->made.shape));
    EXPECT_EQ(pool.idle(), 1u);

    // 4 and 5: 64 MiB again, twice; the second finds the limit set (nothing written) and the
    // counters' totals handed on, and still holds the hog, counting only its own kill.
    TaskLimits small{.memory_bytes = 64 * kMiB, .pids = 64};
    for (int round = 0; round < 2; ++round) {
      auto lease = pool.Take("1.0." + std::to_string(4 + round), small);
      ASSERT_TRUE(lease.ok()) << lease.status().ToString();
      EXPECT_EQ(lease->name, first->name);
      const int st = RunIn(*lease, kHog400);
      EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "round " << round;
      const CgroupUsage u = tree->Usage(lease->name, lease->made.since);
      EXPECT_EQ(u.oom_kills, 1) << "round " << round;
      const IdleCgroup left{small, lease->made.not_enforced,
                            {lease->made.since.cpu_seconds + std::max(0.0, u.cpu_seconds),
                             lease->made.since.oom_kills + u.oom_kills}};
      ASSERT_TRUE(pool.Give(lease->name, lease->made.shape, true, left));
    }
  }
  // The pool's end removes what it kept.
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

// What a task leaves charged to its cgroup (here a file in shared memory, which reclaim cannot
// free without swap) would count against the next task's limit: a cgroup holding more than an
// eighth of the next task's limit is not given to it, and that task gets a new one.
TEST(CgroupPool, ACgroupLeftChargedBeyondTheNextLimitIsNotReused) {
  auto tree = RealTree("charged");
  if (!tree || !Uses(*tree, "memory")) GTEST_SKIP() << "no memory controller here";
  if (!tree->Reusable(tree->ShapeOf({.memory_bytes = 1}))) GTEST_SKIP() << "no reuse here";
  const std::string shm = "/dev/shm/muster-pool-test." + std::to_string(getpid());
  {
    CgroupPool pool(&*tree);
    auto first = pool.Take("1.0.1", {.memory_bytes = 64 * kMiB});
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(RunIn(*first, "head -c 2097152 /dev/zero > " + shm), 0);
    EXPECT_TRUE(pool.Give(first->name, first->made.shape));
    EXPECT_EQ(pool.idle(), 1u);
    auto second = pool.Take("1.0.2", {.memory_bytes = 4 * kMiB});
    EXPECT_TRUE(second.ok()) << second.status().ToString();
    if (second.ok()) {
      EXPECT_NE(second->name, first->name) << "given a cgroup already charged 2 MiB of its 4";
      EXPECT_EQ(RunIn(*second, "true"), 0);
      EXPECT_TRUE(pool.Give(second->name, second->made.shape));
    }
  }
  std::remove(shm.c_str());
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

// A cgroup something still runs in is never kept for another task: it is killed and removed.
TEST(CgroupPool, ACgroupNotEmptyIsKilledAndRemovedNotKept) {
  auto tree = RealTree("busy");
  if (!tree) GTEST_SKIP() << "no writable cgroup hierarchy here (needs root)";
  CgroupPool pool(&*tree);
  auto lease = pool.Take("2.0.1", {});
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  int leader = 0;
  RunIn(*lease, "setsid sleep 300 & exit 0", true, &leader);
  ASSERT_FALSE(tree->Procs(lease->name).empty()) << "the setsid child should still run";
  EXPECT_TRUE(pool.Give(lease->name, lease->made.shape));
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

// A shape that cannot be reused exactly (device rules) gets a cgroup of its own name each time.
TEST(CgroupPool, DeviceRulesAreNeverHandedOn) {
  auto tree = RealTree("devices");
  if (!tree || !Uses(*tree, "devices")) GTEST_SKIP() << "no devices controller here";
  const TaskLimits limits{.device_major = 1, .denied_minors = {7}};
  EXPECT_FALSE(tree->Reusable(tree->ShapeOf(limits)));
  CgroupPool pool(&*tree);
  auto lease = pool.Take("3.0.1", limits);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->name, "3.0.1");
  for (int f : lease->made.procs_fds) close(f);
  EXPECT_TRUE(pool.Give(lease->name, lease->made.shape));
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

}  // namespace
}  // namespace muster::agent
