#include "cluster/agent/lease_fence.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace muster::agent {
namespace {

using namespace std::chrono_literals;

// A child in its own process group running `sh -c script`.
pid_t SpawnGroup(const char* script) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", script, static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

// Waits up to `timeout` for pid to exit; its wait status, or -1 if it is still running.
int WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return st;
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

// No such process, or a zombie (its parent has not reaped it).
bool Gone(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return true;
  int unused = 0;
  char comm[256];
  char state = 0;
  const bool zombie = fscanf(f, "%d %255s %c", &unused, comm, &state) == 3 && state == 'Z';
  fclose(f);
  return zombie;
}

TEST(LeaseFence, StopsTheGroupWhenTheLeaseRunsOutAndKillsWhatIgnoresTerm) {
  auto fence = LeaseFence::Start(300);
  ASSERT_TRUE(fence.ok()) << fence.status().ToString();
  LeaseFence& f = **fence;
  pid_t polite = SpawnGroup("exec sleep 30");
  // The child of sh ignores TERM and keeps the group alive: only SIGKILL ends it.
  pid_t stubborn = SpawnGroup("trap '' TERM; sleep 30 & wait; sleep 30");
  int a = f.Add(polite), b = f.Add(stubborn);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  f.Renew(LeaseFence::NowMs() + 400);
  EXPECT_FALSE(f.Expired());
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(f.Fenced(a));  // the lease still runs
  int st = WaitExit(polite, 3s);
  ASSERT_NE(st, -1) << "the fence did not stop the task";
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  EXPECT_TRUE(f.Expired());
  st = WaitExit(stubborn, 3s);
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_TRUE(f.Remove(a));
  EXPECT_TRUE(f.Remove(b));
  // A slot freed and taken again starts unfenced; a renewed lease protects it.
  f.Renew(LeaseFence::NowMs() + 60000);
  pid_t again = SpawnGroup("exec sleep 30");
  int c = f.Add(again);
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(f.Fenced(c));
  EXPECT_EQ(WaitExit(again, 100ms), -1);
  EXPECT_FALSE(f.Remove(c));
  kill(-again, SIGKILL);
  WaitExit(again, 3s);
}

TEST(LeaseFence, TheTaskIsToldWhyBeforeItsTerm) {
  auto fence = LeaseFence::Start(2000);
  ASSERT_TRUE(fence.ok());
  char dir[] = "/tmp/muster-fence-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string reason = std::string(dir) + "/.stop-reason.1";
  const std::string seen = std::string(dir) + "/seen";
  const std::string script =
      "trap 'cat " + reason + " > " + seen + "; exit 0' TERM; sleep 30 & wait";
  pid_t pid = SpawnGroup(script.c_str());
  const int slot = (*fence)->Add(pid, "", reason);
  (*fence)->Renew(LeaseFence::NowMs() + 100);
  ASSERT_NE(WaitExit(pid, 3s), -1);
  std::ifstream in(seen);
  std::string what;
  std::getline(in, what);
  EXPECT_EQ(what, "node-lost");
  EXPECT_TRUE((*fence)->Remove(slot));
  std::filesystem::remove_all(dir);
}

TEST(LeaseFence, WithoutALeaseNothingIsFenced) {
  auto fence = LeaseFence::Start(100);
  ASSERT_TRUE(fence.ok());
  pid_t pid = SpawnGroup("exec sleep 30");
  int slot = (*fence)->Add(pid);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE((*fence)->Expired());
  EXPECT_FALSE((*fence)->Fenced(slot));
  EXPECT_EQ(WaitExit(pid, 50ms), -1);
  kill(-pid, SIGKILL);
  WaitExit(pid, 3s);
  EXPECT_FALSE((*fence)->Remove(slot));
}

TEST(LeaseFence, KeeperOutlivesAFrozenOwnerAndFencesAnyway) {
  // The agent's part in a child we freeze: it starts the fence, a task and a short lease.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t owner = fork();
  if (owner == 0) {
    auto fence = LeaseFence::Start(200);
    if (!fence.ok()) _exit(1);
    pid_t task = SpawnGroup("exec sleep 30");
    (*fence)->Add(task);
    (*fence)->Renew(LeaseFence::NowMs() + 300);
    pid_t ids[2] = {task, (*fence)->keeper_pid()};
    if (write(ready[1], ids, sizeof ids) != sizeof ids) _exit(1);
    pause();
    _exit(0);
  }
  pid_t ids[2] = {0, 0};
  ASSERT_EQ(read(ready[0], ids, sizeof ids), static_cast<ssize_t>(sizeof ids));
  close(ready[0]);
  close(ready[1]);
  kill(owner, SIGSTOP);  // the owner (the "agent") can do nothing from here on
  auto deadline = std::chrono::steady_clock::now() + 3s;
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    gone = Gone(ids[0]);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone) << "the task kept running while its agent was frozen";
  kill(owner, SIGKILL);
  int st = 0;
  waitpid(owner, &st, 0);
  // With its agent gone, the keeper exits by itself.
  deadline = std::chrono::steady_clock::now() + 3s;
  while (!Gone(ids[1]) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(Gone(ids[1])) << "the keeper outlived its agent";
}

}  // namespace
}  // namespace muster::agent
