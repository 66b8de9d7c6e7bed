#include "cluster/agent/task_cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
  req.cgroup_procs_fd = *fd;
  SpawnResult r = Spawn(req);
  close(*fd);
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

}  // namespace
}  // namespace muster::agent
