#include "cluster/agent/task_cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/agent/spawn.h"

namespace muster::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The real hierarchy of this machine; tests that need one say why they cannot run.
std::optional<CgroupTree> RealTree(const std::string& id) {
  auto t = CgroupTree::Open("test-" + id + "." + std::to_string(getpid()));
  if (!t.ok()) return std::nullopt;
  return std::move(t).value();
}

TEST(CgroupTree, ATaskThatLeavesItsProcessGroupIsStillKilled) {
  auto tree = RealTree("escape");
  if (!tree) GTEST_SKIP() << "no writable cgroup hierarchy here (needs root): "
                          << CgroupTree::Open("probe").status().message();
  auto fd = tree->Create("1.0.1");
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  const fs::path pidfile = fs::temp_directory_path() / ("muster-cg-" + std::to_string(getpid()));
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", "setsid sleep 300 & echo $! > " + pidfile.string()};
  req.stdout_fd = 1;
  req.stderr_fd = 2;
  req.cgroup_procs_fds = fd->procs_fds;
  SpawnResult r = Spawn(req);
  for (int f : fd->procs_fds) close(f);
  ASSERT_GT(r.pid, 0) << r.error;
  int st = 0;
  ASSERT_EQ(waitpid(r.pid, &st, 0), r.pid);  // the leader is gone; its setsid child is not
  int escaped = 0;
  std::ifstream(pidfile) >> escaped;
  fs::remove(pidfile);
  ASSERT_GT(escaped, 0);
  EXPECT_EQ(kill(escaped, 0), 0) << "the escaped process should still run here";
  EXPECT_EQ(tree->Procs("1.0.1"), std::vector<int>{escaped});
  EXPECT_EQ(tree->List(), std::vector<std::string>{"1.0.1"});
  EXPECT_TRUE(tree->Kill("1.0.1"));
  EXPECT_TRUE(tree->Procs("1.0.1").empty());
  EXPECT_TRUE(tree->Remove("1.0.1"));
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

TEST(CgroupTree, DescribesWhatItUsesAndRefusesWhatIsNoHierarchy) {
  auto t = CgroupTree::Open("test-describe." + std::to_string(getpid()));
  if (t.ok()) {
    EXPECT_NE(t->Describe().find("cgroup v"), std::string::npos) << t->Describe();
    t->RemoveRoot();
  } else {
    EXPECT_FALSE(t.status().message().empty());
  }
  // A directory that is not a cgroup hierarchy is refused by the probe (mkdir works there, but
  // no process can be moved in), so the agent falls back to process groups instead of failing
  // every launch.
  const fs::path fake = fs::temp_directory_path() / ("muster-nocg-" + std::to_string(getpid()));
  fs::create_directories(fake);
  auto plain = CgroupTree::Open("x", fake.string());
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.status().message().find("cannot move processes into cgroups under"),
            std::string::npos)
      << plain.status().message();
  fs::remove_all(fake);
}


bool Uses(const CgroupTree& t, const std::string& controller) {
  for (const std::string& c : t.Controllers())
    if (c.starts_with(controller + " ")) return true;
  return false;
}

// Runs `script` under /bin/sh in the attempt cgroup `name` of `tree` with `limits`; its wait
// status, or -1 if it could not start.
int RunIn(const CgroupTree& tree, const std::string& name, const TaskLimits& limits,
          const std::string& script, std::vector<std::string>* not_enforced = nullptr) {
  auto made = tree.Create(name, limits);
  if (!made.ok()) return -1;
  if (not_enforced) *not_enforced = made->not_enforced;
  SpawnRequest req;
  req.argv = {"/bin/sh", "-c", script};
  req.stdout_fd = 1;
  req.stderr_fd = 2;
  req.cgroup_procs_fds = made->procs_fds;
  SpawnResult r = Spawn(req);
  for (int f : made->procs_fds) close(f);
  if (r.pid <= 0) return -1;
  int st = 0;
  waitpid(r.pid, &st, 0);
  return st;
}

TEST(CgroupTree, AMemoryHogIsKilledAtItsLimitAndTheKillIsCounted) {
  auto tree = RealTree("memory");
  if (!tree || !Uses(*tree, "memory")) GTEST_SKIP() << "no memory controller here";
  const int st = RunIn(*tree, "1.0.1", {.memory_bytes = 64 << 20},
                       "exec python3 -c \"b = bytearray(b'x' * (400 << 20))\"");
  ASSERT_TRUE(WIFSIGNALED(st)) << st;
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
  const CgroupUsage u = tree->Usage("1.0.1");
  EXPECT_GE(u.oom_kills, 1);
  EXPECT_GT(u.peak_memory_bytes, 16 << 20);   // it got that far
  EXPECT_LE(u.peak_memory_bytes, 65 << 20);   // and no further
  // Under its limit the same program runs to its end, and nothing is counted.
  EXPECT_EQ(RunIn(*tree, "1.0.2", {.memory_bytes = 600 << 20},
                  "exec python3 -c \"b = bytearray(b'x' * (100 << 20))\""),
            0);
  const CgroupUsage fine = tree->Usage("1.0.2");
  EXPECT_EQ(fine.oom_kills, 0);
  EXPECT_GE(fine.peak_memory_bytes, 100 << 20);
  EXPECT_TRUE(tree->Remove("1.0.1"));
  EXPECT_TRUE(tree->Remove("1.0.2"));
  tree->RemoveRoot();
}

TEST(CgroupTree, ACpuQuotaHoldsABusyLoopToItsShareAndCpuTimeIsMeasured) {
  auto tree = RealTree("cpu");
  if (!tree || !Uses(*tree, "cpu")) GTEST_SKIP() << "no cpu controller here";
  // One second of wall time spinning, at a tenth of a CPU.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunIn(*tree, "2.0.1", {.milli_cpus = 100},
                  "end=$(($(date +%s%N) + 1000000000)); while [ $(date +%s%N) -lt $end ]; do :; "
                  "done"),
            0);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const CgroupUsage u = tree->Usage("2.0.1");
  ASSERT_GE(u.cpu_seconds, 0) << "CPU time not measured";
  EXPECT_GT(u.cpu_seconds, 0.01);
  // Unlimited, a busy loop takes a whole CPU (about 1 s here); the quota allows 0.1 s per s.
  EXPECT_LT(u.cpu_seconds, 0.35 * wall) << u.cpu_seconds << " s of CPU in " << wall << " s";
  EXPECT_TRUE(tree->Remove("2.0.1"));
  tree->RemoveRoot();
}

TEST(CgroupTree, APidsLimitStopsAForkBomb) {
  auto tree = RealTree("pids");
  if (!tree || !Uses(*tree, "pids")) GTEST_SKIP() << "no pids controller here";
  auto made = tree->Create("3.0.1", {.pids = 16});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  SpawnRequest req;  // 40 sleepers wanted, 16 processes allowed
  req.argv = {"/bin/sh", "-c", "for i in $(seq 40); do sleep 30 & done 2>/dev/null; wait"};
  req.stdout_fd = 1;
  req.stderr_fd = 2;
  req.cgroup_procs_fds = made->procs_fds;
  SpawnResult r = Spawn(req);
  for (int f : made->procs_fds) close(f);
  ASSERT_GT(r.pid, 0) << r.error;
  size_t most = 0;
  for (int i = 0; i < 20; ++i) {
    most = std::max(most, tree->Procs("3.0.1").size());
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GT(most, 1u);
  EXPECT_LE(most, 16u);
  EXPECT_TRUE(tree->Kill("3.0.1"));
  int st = 0;
  waitpid(r.pid, &st, 0);
  EXPECT_TRUE(tree->Remove("3.0.1"));
  tree->RemoveRoot();
}

TEST(CgroupTree, ATaskOpensOnlyTheDevicesItWasGiven) {
  auto tree = RealTree("devices");
  if (!tree) GTEST_SKIP() << "no writable cgroup hierarchy here";
  // The memory devices (major 1) stand in for a node's GPUs: the task was given /dev/zero (1:5),
  // not /dev/full (1:7).
  const TaskLimits limits{.device_major = 1, .denied_minors = {7}};
  std::vector<std::string> not_enforced;
  const int st = RunIn(*tree, "4.0.1", limits,
                       "head -c1 /dev/zero >/dev/null || exit 3; "
                       "head -c1 /dev/full >/dev/null 2>&1 && exit 4; exit 0",
                       &not_enforced);
  if (!Uses(*tree, "devices")) {
    // Said, never silently ignored.
    ASSERT_EQ(not_enforced.size(), 1u);
    EXPECT_NE(not_enforced[0].find("devices"), std::string::npos) << not_enforced[0];
  } else {
    EXPECT_TRUE(not_enforced.empty());
    ASSERT_TRUE(WIFEXITED(st)) << st;
    EXPECT_EQ(WEXITSTATUS(st), 0) << "3: its own device refused; 4: another one opened";
  }
  EXPECT_TRUE(tree->Remove("4.0.1"));
  tree->RemoveRoot();
}

TEST(CgroupTree, ALimitWithoutItsControllerIsReportedNotEnforced) {
  // Each limit asked for is set by a controller the tree uses, or listed as not enforced.
  auto tree = RealTree("report");
  if (!tree) GTEST_SKIP() << "no writable cgroup hierarchy here";
  auto made = tree->Create("5.0.1", {.memory_bytes = 64 << 20, .milli_cpus = 500, .pids = 100});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  for (int f : made->procs_fds) close(f);
  for (const char* c : {"memory", "cpu", "pids"}) {
    const bool reported = std::any_of(made->not_enforced.begin(), made->not_enforced.end(),
                                      [&](const std::string& w) { return w.starts_with(c); });
    EXPECT_NE(Uses(*tree, c), reported) << c << ": used by the tree, or reported, never both";
  }
  EXPECT_TRUE(tree->Remove("5.0.1"));
  tree->RemoveRoot();
}

}  // namespace
}  // namespace muster::agent
