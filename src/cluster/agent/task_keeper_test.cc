#include "cluster/agent/task_keeper.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "cluster/agent/launcher.h"
#include "cluster/agent/spawn_child.h"
#include "cluster/common/convert.h"
#include "cluster/agent/task_keeper_loop.h"
#include "cluster/agent/task_keeper_wire.h"

namespace muster::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string KeeperName() {
  return "test." + std::to_string(getpid()) + "." +
         ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

// A task's pipes: the keeper gets the write ends (for the child) and a copy of the read ends.
struct Pipes {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  Pipes() {
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  }
  ~Pipes() {
    for (int fd : {out[0], out[1], err[0], err[1]})
      if (fd >= 0) close(fd);
  }
  SpawnRequest Request(const std::string& script) {
    SpawnRequest r;
    r.argv = {"/bin/sh", "-c", script};
    r.env = {"PATH=/usr/bin:/bin"};
    r.stdout_fd = out[1];
    r.stderr_fd = err[1];
    return r;
  }
  // After the spawn: the child has its own write ends.
  void Spawned() {
    close(out[1]);
    close(err[1]);
    out[1] = err[1] = -1;
  }
};

// Reads fd until `want` has arrived or the timeout passes.
std::string ReadUntil(int fd, const std::string& want, std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[256];
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// The ends the keeper reported.
struct Exits {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int, std::pair<int, bool>> by_pid;
  void Install(TaskKeeper& k) {
    k.SetHandlers(
        [this](int pid, int status, bool fenced) {
          std::lock_guard lock(mu);
          by_pid[pid] = {status, fenced};
          cv.notify_all();
        },
        nullptr);
  }
  bool Wait(int pid, std::chrono::milliseconds timeout, int* status, bool* fenced) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, timeout, [&] { return by_pid.contains(pid); })) return false;
    *status = by_pid[pid].first;
    *fenced = by_pid[pid].second;
    return true;
  }
};

// No such process, or a zombie.
bool Gone(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const size_t close_paren = line.rfind(')');
  return close_paren == std::string::npos || line.substr(close_paren + 2, 1) == "Z";
}

bool WaitGone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Gone(pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  return Gone(pid);
}

TEST(TaskKeeper, StartsATaskPassesItsOutputAndReportsItsEnd) {
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  EXPECT_FALSE((*keeper)->attached());
  Exits exits;
  exits.Install(**keeper);
  Pipes p;
  SpawnResult r = (*keeper)->Spawn(p.Request("echo hi; echo oops >&2; exit 3"), KeptTaskInfo{},
                                   p.out[0], p.err[0]);
  p.Spawned();
  ASSERT_GT(r.pid, 0) << r.error;
  EXPECT_EQ(ReadUntil(p.out[0], "hi\n", 5s), "hi\n");
  EXPECT_EQ(ReadUntil(p.err[0], "oops\n", 5s), "oops\n");
  int status = 0;
  bool fenced = true;
  ASSERT_TRUE(exits.Wait(r.pid, 5s, &status, &fenced));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_FALSE(fenced);
  (*keeper)->Forget(r.pid);
}

TEST(TaskKeeper, AFailedExecComesBackAsAClearError) {
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  Pipes p;
  SpawnRequest req = p.Request("");
  req.argv = {"/no/such/program"};
  SpawnResult r = (*keeper)->Spawn(req, KeptTaskInfo{}, p.out[0], p.err[0]);
  EXPECT_LE(r.pid, 0);
  EXPECT_NE(r.error.find("cannot execute '/no/such/program'"), std::string::npos) << r.error;
  req.argv = {"/bin/true"};
  req.cwd = "/no/such/dir";
  r = (*keeper)->Spawn(req, KeptTaskInfo{}, p.out[0], p.err[0]);
  EXPECT_LE(r.pid, 0);
  EXPECT_NE(r.error.find("cannot change to working directory '/no/such/dir'"), std::string::npos)
      << r.error;
  // The reason is the child's own: a child that shares the keeper's memory shares its errno too,
  // which the keeper's loop keeps overwriting, so it is not read from there.
  EXPECT_NE(r.error.find("No such file or directory"), std::string::npos) << r.error;
}

// A file without #! runs under /bin/sh, as execvp runs it; every time (it used to depend on the
// errno the keeper's loop happened to leave).
TEST(TaskKeeper, AScriptWithoutInterpreterLineRunsUnderShEveryTime) {
  const fs::path dir = fs::temp_directory_path() / ("keeper-script." + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path script = dir / "plain-script";
  {
    std::ofstream out(script);
    out << "echo ran with \"$1\"\n";
  }
  fs::permissions(script, fs::perms::owner_all);
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  Exits exits;
  exits.Install(**keeper);
  for (int i = 0; i < 20; ++i) {
    Pipes p;
    SpawnRequest req = p.Request("");
    req.argv = {script.string(), "arg" + std::to_string(i)};
    SpawnResult r = (*keeper)->Spawn(req, KeptTaskInfo{}, p.out[0], p.err[0]);
    p.Spawned();
    ASSERT_GT(r.pid, 0) << "run " << i << ": " << r.error;
    const std::string want = "ran with arg" + std::to_string(i) + "\n";
    EXPECT_EQ(ReadUntil(p.out[0], want, 5s), want);
    int status = 0;
    bool fenced = false;
    ASSERT_TRUE(exits.Wait(r.pid, 5s, &status, &fenced));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "run " << i;
    (*keeper)->Forget(r.pid);
  }
  fs::remove_all(dir);
}

// A spawn message the keeper cannot use is still answered (its launch waits for the answer), and
// counts that would overflow when added are refused before anything is built from them.
TEST(TaskKeeper, AMalformedSpawnIsAnsweredAndRefused) {
  using namespace keeper_wire;
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  const pid_t keeper = fork();
  ASSERT_GE(keeper, 0);
  if (keeper == 0) keeper_internal::Keep(-1, pair[1], 300);
  close(pair[1]);
  auto answer = [&](uint64_t id) {
    pollfd p{pair[0], POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 5000), 1) << "no answer to spawn " << id;
    SpawnedMsg r{};
    int fds[kMaxFds];
    int nfds = 0;
    bool whole = false, cut = false;
    EXPECT_EQ(ReceiveMessage(pair[0], &r, sizeof r, MSG_DONTWAIT, fds, &nfds, &whole, &cut),
              static_cast<ssize_t>(sizeof r));
    EXPECT_EQ(r.h.type, kSpawned);
    EXPECT_EQ(r.h.id, id);
    EXPECT_LE(r.pid, 0);
    EXPECT_EQ(r.step, spawn_internal::kStepKeeper);
    return r.err;
  };
  int task_pipes[4];
  ASSERT_EQ(pipe2(task_pipes, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(task_pipes + 2, O_CLOEXEC), 0);
  // argc + envc wraps to 0 in 32 bits.
  SpawnMsg m{};
  m.h = {kSpawn, kVersion, 7};
  m.argc = 0x80000000u;
  m.envc = 0x80000000u;
  m.strings = 0;
  ASSERT_TRUE(SendMessage(pair[0], &m, sizeof m, task_pipes, 4));
  EXPECT_EQ(answer(7), EINVAL);
  // More cgroup descriptors announced than can ever come.
  m = SpawnMsg{};
  m.h = {kSpawn, kVersion, 8};
  m.argc = 1;
  m.ncgroup_fds = 0xFFFFFFFCu;
  ASSERT_TRUE(SendMessage(pair[0], &m, sizeof m, task_pipes, 4));
  EXPECT_EQ(answer(8), EINVAL);
  // Another version's spawn.
  m = SpawnMsg{};
  m.h = {kSpawn, kVersion + 1, 9};
  ASSERT_TRUE(SendMessage(pair[0], &m, sizeof m, nullptr, 0));
  EXPECT_EQ(answer(9), EPROTO);
  for (int fd : task_pipes) close(fd);
  ValueMsg quit{{kQuit, kVersion, 0}, 0};
  ASSERT_TRUE(SendMessage(pair[0], &quit, sizeof quit, nullptr, 0));
  int status = 0;
  EXPECT_EQ(waitpid(keeper, &status, 0), keeper);
  close(pair[0]);
}

TEST(TaskKeeper, FencesWhenTheLeaseRunsOutAndKillsWhatIgnoresTerm) {
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  Exits exits;
  exits.Install(**keeper);
  const fs::path reason = fs::temp_directory_path() / (KeeperName() + ".reason");
  fs::remove(reason);
  KeptTaskInfo info;
  std::snprintf(info.stop_reason_file, sizeof info.stop_reason_file, "%s", reason.c_str());
  (*keeper)->Renew(TaskKeeper::NowMs() + 400);
  Pipes p;
  SpawnResult r = (*keeper)->Spawn(p.Request("trap '' TERM; echo ready; sleep 30"), info,
                                   p.out[0], p.err[0]);
  p.Spawned();
  ASSERT_GT(r.pid, 0) << r.error;
  ASSERT_EQ(ReadUntil(p.out[0], "ready\n", 5s), "ready\n");
  EXPECT_FALSE((*keeper)->Expired());
  int status = 0;
  bool fenced = false;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(exits.Wait(r.pid, 5s, &status, &fenced)) << "the fence never stopped the task";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);  // lease left + the grace, at least
  EXPECT_TRUE(fenced);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);  // it ignored the TERM
  EXPECT_TRUE((*keeper)->Expired());
  std::ifstream in(reason);
  std::string why;
  std::getline(in, why);
  EXPECT_EQ(why, "node-lost");
  fs::remove(reason);
}

TEST(TaskKeeper, WithoutALeaseNothingIsFencedWhileTheAgentIsThere) {
  auto keeper = TaskKeeper::Start(KeeperName(), 100);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  Exits exits;
  exits.Install(**keeper);
  Pipes p;
  SpawnResult r = (*keeper)->Spawn(p.Request("sleep 0.5"), KeptTaskInfo{}, p.out[0], p.err[0]);
  p.Spawned();
  ASSERT_GT(r.pid, 0) << r.error;
  int status = 0;
  bool fenced = true;
  ASSERT_TRUE(exits.Wait(r.pid, 5s, &status, &fenced));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(fenced);
}

TEST(TaskKeeper, ASecondAgentOfTheSameNameIsRefused) {
  auto first = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another agent with this name and work dir"),
            std::string::npos)
      << second.status().ToString();
}

// What a crashed agent leaves: a process that started a keeper and a task, renewed the lease,
// and ended without a word. Returns the task's pid (written by that process to a pipe).
pid_t CrashAfterSpawning(const std::string& name, const std::string& script, int64_t lease_ms) {
  int report[2];
  if (pipe(report) != 0) return -1;
  const pid_t owner = fork();
  if (owner == 0) {
    close(report[0]);
    auto keeper = TaskKeeper::Start(name, 300);
    if (!keeper.ok()) _exit(2);
    (*keeper)->Renew(TaskKeeper::NowMs() + lease_ms);
    Pipes p;
    SpawnResult r = (*keeper)->Spawn(p.Request(script), KeptTaskInfo{.job_id = 7, .attempt = 2},
                                     p.out[0], p.err[0]);
    const int pid = r.pid;
    ssize_t w = write(report[1], &pid, sizeof pid);
    (void)w;
    _exit(0);  // no destructor: the keeper is told nothing
  }
  close(report[1]);
  int pid = -1;
  if (read(report[0], &pid, sizeof pid) != sizeof pid) pid = -1;
  close(report[0]);
  int st = 0;
  waitpid(owner, &st, 0);
  return pid;
}

TEST(TaskKeeper, TheNextAgentAdoptsWhatACrashedOneLeftWithItsOutput) {
  const pid_t task = CrashAfterSpawning(KeeperName(), "sleep 0.3; echo late; sleep 0.7; exit 5",
                                        10000);
  ASSERT_GT(task, 0);
  EXPECT_FALSE(Gone(task)) << "the task did not outlive its agent";
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  EXPECT_TRUE((*keeper)->attached());
  {  // the keeper it found is the task's parent
    std::ifstream stat("/proc/" + std::to_string(task) + "/stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    EXPECT_EQ(ppid, (*keeper)->keeper_pid());
  }
  Exits exits;
  exits.Install(**keeper);
  auto adopted = (*keeper)->TakeAdopted();
  ASSERT_EQ(adopted.size(), 1u);
  EXPECT_EQ(adopted[0].pid, task);
  EXPECT_EQ(adopted[0].info.job_id, 7);
  EXPECT_EQ(adopted[0].info.attempt, 2);
  ASSERT_GE(adopted[0].out_read, 0);
  // Output written after the crash comes through the pipe the keeper kept open.
  EXPECT_EQ(ReadUntil(adopted[0].out_read, "late\n", 5s), "late\n");
  int status = 0;
  bool fenced = true;
  if (!adopted[0].exited) ASSERT_TRUE(exits.Wait(task, 5s, &status, &fenced));
  else status = adopted[0].wait_status, fenced = adopted[0].fenced;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 5);
  EXPECT_FALSE(fenced);
  close(adopted[0].out_read);
  close(adopted[0].err_read);
}

TEST(TaskKeeper, WithNoSuccessorTheTaskIsStoppedWhenTheLeaseRunsOut) {
  const pid_t task = CrashAfterSpawning(KeeperName(), "sleep 30", 600);
  ASSERT_GT(task, 0);
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(Gone(task)) << "stopped before its lease ran out";
  EXPECT_TRUE(WaitGone(task, 5s)) << "the task outlived its agent's lease";
}

// An adopted task that ends while its new agent is still starting (after the keeper's Adopt,
// before the launcher knows the task) is reported ended, not left "running" for ever.
TEST(TaskKeeper, AnAdoptedTaskThatEndsBeforeItsLauncherKnowsItIsReported) {
  const pid_t task = CrashAfterSpawning(KeeperName(), "sleep 0.3; exit 4", 10000);
  ASSERT_GT(task, 0);
  auto keeper = TaskKeeper::Start(KeeperName(), 300);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  ASSERT_TRUE((*keeper)->attached());
  ASSERT_TRUE(WaitGone(task, 5s));
  std::this_thread::sleep_for(200ms);  // its end has reached this side (no handler yet)
  struct Sink : TaskSink {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<v1::TaskEvent> events;
    void OnEvent(const v1::TaskEvent& e) override {
      std::lock_guard lock(mu);
      events.push_back(e);
      cv.notify_all();
    }
    void OnLog(const v1::TaskLog&) override {}
    void OnProgress(const v1::TaskProgress&) override {}
  } sink;
  const fs::path dir = fs::temp_directory_path() / ("keeper-adopt." + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    Launcher launcher(LauncherOptions{.work_dir = dir.string(), .keeper = keeper->get()}, &sink);
    std::vector<AdoptedTask> adopted = (*keeper)->TakeAdopted();
    ASSERT_EQ(adopted.size(), 1u);
    EXPECT_FALSE(adopted[0].exited) << "the test meant the end to come after the Adopt";
    EXPECT_EQ(launcher.Adopt(std::move(adopted)), 1);
    std::unique_lock lock(sink.mu);
    EXPECT_TRUE(sink.cv.wait_for(lock, 5s, [&] { return !sink.events.empty(); }))
        << "the adopted task's end was never reported";
    if (!sink.events.empty()) {
      EXPECT_EQ(sink.events[0].job_id(), 7);
      EXPECT_EQ(sink.events[0].state(), v1::TASK_STATE_FAILED);
      EXPECT_EQ(sink.events[0].exit_code(), 4);
    }
  }
  fs::remove_all(dir);
}

// Sends the keeper at `sock` a spawn of `argv` (argv[0] a path) as the agent's Spawn would; the
// task's output goes to /dev/null. False if it could not be sent now.
bool RawSpawn(int sock, uint64_t id, const std::vector<std::string>& argv, int flags = 0) {
  using namespace keeper_wire;
  SpawnMsg m{};
  m.h = {kSpawn, kVersion, id};
  m.argc = static_cast<uint32_t>(argv.size());
  std::string strings = argv[0] + '\0';
  for (const auto& a : argv) strings += a + '\0';
  strings += std::string("\0\0\0", 3);  // cwd, stdout copy, stderr copy: none
  m.strings = static_cast<uint32_t>(strings.size());
  std::string msg(reinterpret_cast<const char*>(&m), sizeof m);
  msg += strings;
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  const int fds[4] = {null_fd, null_fd, null_fd, null_fd};
  const bool sent = SendMessage(sock, msg.data(), msg.size(), fds, 4, flags);
  close(null_fd);
  return sent;
}

// An agent that stops reading (frozen, or a peer that never reads) cannot stop the keeper: its
// sends never block for long, and the lease is still enforced.
TEST(TaskKeeper, AnAgentThatStopsReadingDoesNotStopTheFence) {
  using namespace keeper_wire;
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  const int small = 1;  // the kernel's minimum: a few messages fill it
  ASSERT_EQ(setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  const pid_t keeper = fork();
  ASSERT_GE(keeper, 0);
  if (keeper == 0) keeper_internal::Keep(-1, pair[1], 300);
  close(pair[1]);
  // The long task, answered.
  ASSERT_TRUE(RawSpawn(pair[0], 1, {"/bin/sleep", "30"}));
  pollfd p{pair[0], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  SpawnedMsg r{};
  int fds[kMaxFds];
  int nfds = 0;
  bool whole = false, cut = false;
  ASSERT_EQ(ReceiveMessage(pair[0], &r, sizeof r, 0, fds, &nfds, &whole, &cut),
            static_cast<ssize_t>(sizeof r));
  ASSERT_GT(r.pid, 0);
  const pid_t task = r.pid;
  ValueMsg renew{{kRenew, kVersion, 0}, TaskKeeper::NowMs() + 500};
  ASSERT_TRUE(SendMessage(pair[0], &renew, sizeof renew, nullptr, 0));
  // Then many short ones whose answers and ends this side never reads.
  for (uint64_t id = 2; id < 40; ++id) RawSpawn(pair[0], id, {"/bin/true"}, MSG_DONTWAIT);
  // Lease 0.5 s, grace 0.3 s, and at most about a second for a send that cannot go through.
  EXPECT_TRUE(WaitGone(task, 6s)) << "the keeper stopped fencing while its agent did not read";
  kill(task, SIGKILL);
  close(pair[0]);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (waitpid(keeper, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  if (!Gone(keeper)) {
    kill(keeper, SIGKILL);
    waitpid(keeper, &status, 0);
    ADD_FAILURE() << "the keeper did not end once its agent had gone and its tasks had ended";
  }
}

}  // namespace
}  // namespace muster::agent
