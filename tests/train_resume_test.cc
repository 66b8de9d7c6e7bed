// Checkpoint and resume with real processes: a 2-rank muster-train run (torchrun's variables set
// here, a free loopback port) is sent SIGTERM mid-epoch, checkpoints, exits 143; restarted with
// the same command it resumes from the saved step (not 0), finishes, and ends with the same test
// loss and accuracy as an uninterrupted run (training is deterministic: fixed data order, dropout
// seeded per step, one thread per rank).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "train_test_util.h"

namespace muster::train {
namespace {

namespace fs = std::filesystem;
const char* kDataset = "/usr/share/datasets/fashion-mnist";

struct Proc {
  pid_t pid = -1;
  int out_fd = -1;  // rank 0's stdout, read by the test
  std::string buffered;
};

// Starts one rank; its stdout comes back through a pipe, stderr goes to `err_path`.
Proc StartRank(int rank, uint16_t port, const std::vector<std::string>& args,
               const std::string& ckpt, const std::string& err_path) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    ::close(fds[0]);
    ::setenv("RANK", std::to_string(rank).c_str(), 1);
    ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("LOCAL_WORLD_SIZE", "2", 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    ::setenv("MUSTER_CHECKPOINT_DIR", ckpt.c_str(), 1);
    ::setenv("MUSTER_CHECKPOINTABLE", "1", 1);
    std::vector<char*> argv;
    std::string bin = MUSTER_TRAIN_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0], ""};
}

// Reads lines until `pred` accepts one (returns it) or the process closes stdout / times out.
std::string ReadUntil(Proc& p, const std::function<bool(const std::string&)>& pred,
                      std::string& all, std::chrono::seconds timeout = std::chrono::seconds(240)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    size_t nl;
    while ((nl = p.buffered.find('\n')) != std::string::npos) {
      std::string line = p.buffered.substr(0, nl);
      p.buffered.erase(0, nl + 1);
      all += line + "\n";
      if (pred(line)) return line;
    }
    pollfd pfd{p.out_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(p.out_fd, buf, sizeof buf);
    if (n <= 0) break;
    p.buffered.append(buf, n);
  }
  return "";
}

int Wait(Proc& p) {
  int status = 0;
  ::waitpid(p.pid, &status, 0);
  if (p.out_fd >= 0) ::close(p.out_fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class TrainResume : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fs::path(kDataset) / "train-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "Fashion-MNIST not installed at " << kDataset;
    }
    root_ = fs::temp_directory_path() / ("muster_train_resume_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  std::vector<std::string> Args(const std::string& out) {
    return {"--data",           kDataset, "--limit-train", "1600", "--limit-test", "500",
            "--batch-size",     "16",     "--epochs",      "3",    "--threads",    "1",
            "--progress-every", "5",      "--out",         out};
  }
  // Runs both ranks to completion; returns rank 0's stdout.
  std::string RunToEnd(const std::string& name, const std::string& ckpt, int* rc0, int* rc1) {
    const uint16_t port = testing::FreePort();
    Proc r0 = StartRank(0, port, Args((root_ / name).string()), ckpt,
                        (root_ / (name + ".err0")).string());
    Proc r1 = StartRank(1, port, Args((root_ / name).string()), ckpt,
                        (root_ / (name + ".err1")).string());
    std::string all;
    ReadUntil(
        r0, [](const std::string&) { return false; }, all);
    *rc0 = Wait(r0);
    *rc1 = Wait(r1);
    return all;
  }
  nlohmann::json Report(const std::string& name) {
    std::ifstream in(root_ / name / "report.json");
    return nlohmann::json::parse(in);
  }
  fs::path root_;
};

TEST_F(TrainResume, SigtermCheckpointsAndRestartResumesToTheSameResult) {
  // Uninterrupted reference run.
  int rc0 = -1, rc1 = -1;
  std::string ref_out = RunToEnd("ref", (root_ / "ckpt_ref").string(), &rc0, &rc1);
  ASSERT_EQ(rc0, 0) << ref_out;
  ASSERT_EQ(rc1, 0);
  const auto ref = Report("ref");
  ASSERT_EQ(ref["total_steps"], 150);  // 1600 / (2 x 16) = 50 steps per epoch, 3 epochs

  // Interrupted run: SIGTERM to both ranks once step 60 (inside epoch 2) has been reported.
  const std::string ckpt = (root_ / "ckpt").string();
  const uint16_t port = testing::FreePort();
  Proc r0 = StartRank(0, port, Args((root_ / "run").string()), ckpt, (root_ / "run.err0").string());
  Proc r1 = StartRank(1, port, Args((root_ / "run").string()), ckpt, (root_ / "run.err1").string());
  std::string first_out;
  const std::regex done_re(
      "^MUSTER_PROGRESS done=(\\d+) total=150 epoch=(\\d+) loss=\\S+ samples_per_s=\\S+$");
  std::string line = ReadUntil(
      r0,
      [&](const std::string& l) {
        std::smatch m;
        return std::regex_match(l, m, done_re) && std::stoi(m[1]) >= 60;
      },
      first_out);
  ASSERT_FALSE(line.empty()) << "no progress past step 60:\n" << first_out;
  ::kill(r0.pid, SIGTERM);
  ::kill(r1.pid, SIGTERM);
  ReadUntil(
      r0, [](const std::string&) { return false; }, first_out);
  EXPECT_EQ(Wait(r0), 143) << first_out;
  EXPECT_EQ(Wait(r1), 143);
  std::smatch m;
  const std::regex stop_re("stopped on request at step (\\d+)");
  ASSERT_TRUE(std::regex_search(first_out, m, stop_re)) << first_out;
  const int stopped_at = std::stoi(m[1]);
  EXPECT_GT(stopped_at, 60);
  EXPECT_LT(stopped_at, 150);
  EXPECT_TRUE(fs::exists(fs::path(ckpt) /
                         ("ckpt-" + std::string(12 - std::to_string(stopped_at).size(), '0') +
                          std::to_string(stopped_at) + ".pt")));

  // Restart with the same command: resumes from the saved step and finishes.
  std::string second_out = RunToEnd("run", ckpt, &rc0, &rc1);
  ASSERT_EQ(rc0, 0) << second_out;
  ASSERT_EQ(rc1, 0);
  EXPECT_NE(second_out.find("at step " + std::to_string(stopped_at)), std::string::npos)
      << second_out;
  const std::regex first_progress("MUSTER_PROGRESS done=(\\d+) ");
  ASSERT_TRUE(std::regex_search(second_out, m, first_progress));
  EXPECT_GT(std::stoi(m[1]), stopped_at) << "progress restarted from 0";
  const auto resumed = Report("run");
  EXPECT_EQ(resumed["start_step"], stopped_at);
  EXPECT_EQ(resumed["steps_done"], 150);
  ASSERT_EQ(resumed["epochs"].size(), 3u);  // the curve survives the restart
  // Deterministic training: the interrupted run ends where the uninterrupted one did.
  EXPECT_NEAR(resumed["final_test_loss"].get<double>(), ref["final_test_loss"].get<double>(), 1e-6);
  EXPECT_EQ(resumed["final_test_accuracy"].get<double>(), ref["final_test_accuracy"].get<double>());
}

TEST_F(TrainResume, CorruptDatasetIsAOneLineError) {
  const fs::path bad = root_ / "bad";
  fs::create_directories(bad);
  // A label file's magic where an image file's belongs, with a complete 16-byte header.
  const std::string header("\x00\x00\x08\x01\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x1c", 16);
  std::ofstream(bad / "train-images-idx3-ubyte", std::ios::binary)
      << header << std::string(784, '\x10');
  std::ofstream(bad / "train-labels-idx1-ubyte", std::ios::binary) << header.substr(0, 8) << '\x01';
  const std::string cmd = std::string(MUSTER_TRAIN_BIN) + " --data " + bad.string() + " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  const int status = ::pclose(f);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find("bad magic 0x00000801"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace muster::train
