// `muster up` end to end: the real binary (BUILD/bin/muster, found beside this test binary)
// starts a coordinator and agents, prints its ready line, refuses a second instance, names a
// child that dies, and stops cleanly on SIGINT. Skipped when the binary has not been built.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace muster::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string MusterBinary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  fs::path bin = self.parent_path().parent_path().parent_path() / "bin" / "muster";
  return fs::exists(bin) ? bin.string() : "";
}

// A child process with stdout and stderr on one pipe.
struct Proc {
  pid_t pid = -1;
  int out = -1;
  std::string text;

  Proc(const std::vector<std::string>& args) {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid = fork();
    if (pid == 0) {
      dup2(p[1], 1);
      dup2(p[1], 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(p[1]);
    out = p[0];
  }
  ~Proc() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out >= 0) close(out);
  }
  // Reads output until it contains `what` or `limit` passes.
  bool WaitFor(const std::string& what, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (text.find(what) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{out, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return text.find(what) != std::string::npos;
      text.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Reads the rest of the output, until EOF or `limit`.
  void ReadToEnd(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{out, POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = read(out, buf, sizeof buf);
      if (n <= 0) return;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  int Wait() {
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
};

class UpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = MusterBinary();
    if (bin_.empty()) GTEST_SKIP() << "muster binary not built";
    dir_ = fs::temp_directory_path() / ("muster-up-" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> Up() {
    return {bin_, "up",       "--agents",    "2",           "--gpus-per-agent",
            "2",  "--listen", "127.0.0.1:0", "--state-dir", dir_.string()};
  }
  std::string bin_;
  fs::path dir_;
};

TEST_F(UpTest, ReadyRefusesASecondAndStopsOnInterrupt) {
  Proc up(Up());
  ASSERT_TRUE(up.WaitFor("Ctrl-C to stop", 10s)) << up.text;
  EXPECT_NE(up.text.find("2 agents, 4 GPUs (virtual)"), std::string::npos) << up.text;
  EXPECT_TRUE(fs::exists(dir_ / "coordinator" / "coordinator.addr"));
  EXPECT_TRUE(fs::is_directory(dir_ / "agents" / "node1"));
  EXPECT_TRUE(fs::is_directory(dir_ / "agents" / "node2"));

  Proc second(Up());
  EXPECT_EQ(second.Wait(), 1);
  second.ReadToEnd(2s);
  EXPECT_NE(second.text.find("already running"), std::string::npos) << second.text;

  kill(up.pid, SIGINT);
  EXPECT_TRUE(up.WaitFor("muster up: stopped", 15s)) << up.text;
  EXPECT_EQ(up.Wait(), 0);

  // Same state dir again: resumes under the same names.
  Proc again(Up());
  ASSERT_TRUE(again.WaitFor("Ctrl-C to stop", 10s)) << again.text;
  kill(again.pid, SIGTERM);
  EXPECT_EQ(again.Wait(), 0);
  again.ReadToEnd(2s);
  EXPECT_NE(again.text.find("muster up: stopped"), std::string::npos) << again.text;
}

TEST_F(UpTest, ADeadAgentIsNamedAndTheRestStop) {
  Proc up(Up());
  ASSERT_TRUE(up.WaitFor("Ctrl-C to stop", 10s)) << up.text;
  // node2's pid, from the process table: the child of `up` whose command line names it.
  pid_t victim = -1;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream cmd(e.path() / "cmdline");
    std::string line((std::istreambuf_iterator<char>(cmd)), {});
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state, ppid;
    if (!(stat >> pid >> comm >> state >> ppid) || std::stoi(ppid) != up.pid) continue;
    if (line.find(std::string("node2") + '\0') != std::string::npos) victim = std::stoi(pid);
  }
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  EXPECT_EQ(up.Wait(), 1);
  up.ReadToEnd(2s);
  EXPECT_NE(up.text.find("agent node2 exited unexpectedly (killed by signal 9"), std::string::npos)
      << up.text;
}

}  // namespace
}  // namespace muster::agent
