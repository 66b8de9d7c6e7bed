#include "cluster/agent/launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster/agent/task_cgroup.h"
#include "cluster/common/convert.h"

namespace muster::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Records everything the launcher reports; lets a test wait for a terminal event.
class RecordingSink : public TaskSink {
 public:
  void OnEvent(const v1::TaskEvent& e) override {
    std::lock_guard lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  void OnLog(const v1::TaskLog& l) override {
    std::lock_guard lock(mu_);
    (l.stderr() ? err_ : out_)[{l.job_id(), l.attempt()}] += l.data();
    ++log_chunks_;
  }
  void OnProgress(const v1::TaskProgress& p) override {
    std::lock_guard lock(mu_);
    progress_.push_back(p);
  }
  // Waits for the terminal event of (job, attempt); fails the test on timeout.
  v1::TaskEvent WaitEnd(int64_t job, int64_t attempt = 1, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    v1::TaskEvent found;
    bool ok = cv_.wait_for(lock, limit, [&] {
      for (const auto& e : events_)
        if (e.job_id() == job && e.attempt() == attempt && e.state() != v1::TASK_STATE_RUNNING) {
          found = e;
          return true;
        }
      return false;
    });
    EXPECT_TRUE(ok) << "no terminal event for job " << job;
    return found;
  }
  std::string Out(int64_t job, int64_t attempt = 1) {
    std::lock_guard lock(mu_);
    return out_[{job, attempt}];
  }
  std::string Err(int64_t job, int64_t attempt = 1) {
    std::lock_guard lock(mu_);
    return err_[{job, attempt}];
  }
  std::vector<v1::TaskEvent> Events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<v1::TaskProgress> Progress() {
    std::lock_guard lock(mu_);
    return progress_;
  }
  int LogChunks() {
    std::lock_guard lock(mu_);
    return log_chunks_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::TaskEvent> events_;
  std::map<std::pair<int64_t, int64_t>, std::string> out_, err_;
  std::vector<v1::TaskProgress> progress_;
  int log_chunks_ = 0;
};

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muster-launch-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    launcher_ = std::make_unique<Launcher>(LauncherOptions{.work_dir = dir_.string(),
                                                           .extra_env = {{"FROM_AGENT", "yes"}},
                                                           .default_grace_ms = 300},
                                           &sink_);
  }
  void TearDown() override {
    launcher_.reset();
    fs::remove_all(dir_);
  }
  static v1::Launch Sh(int64_t job, const std::string& script, int64_t attempt = 1) {
    v1::Launch l;
    l.set_job_id(job);
    l.set_task_index(0);
    l.set_attempt(attempt);
    l.add_command("/bin/sh");
    l.add_command("-c");
    l.add_command(script);
    l.set_allow_root(true);  // as the agent's own user, which may be root here
    return l;
  }
  std::string ReadLog(int64_t job, int task, int64_t attempt, const char* ext) {
    std::ifstream in(dir_ / "logs" /
                     (std::to_string(job) + "." + std::to_string(task) + "." +
                      std::to_string(attempt) + "." + ext));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  RecordingSink sink_;
  std::unique_ptr<Launcher> launcher_;
};

TEST_F(LauncherTest, LogLimitKeepsTheHeadAndTheLatestTailWithMarkers) {
  // seq 1 200000 writes 1,288,895 bytes; the limit keeps 32 KiB of head and 32 KiB of tail.
  v1::Launch l = Sh(40, "seq 1 200000; echo small >&2");
  l.set_log_limit_bytes(64 << 10);
  ASSERT_TRUE(launcher_->Launch(l).ok());
  EXPECT_EQ(sink_.WaitEnd(40).state(), v1::TASK_STATE_SUCCEEDED);
  const std::string file = ReadLog(40, 0, 1, "out");
  EXPECT_LT(file.size(), (64u << 10) + 400) << "the log file is over its limit";
  EXPECT_EQ(file.compare(0, 8, "1\n2\n3\n4\n"), 0);  // the head is the beginning
  EXPECT_EQ(file.substr(file.size() - 14), "199999\n200000\n");  // the tail is the end
  EXPECT_NE(file.find("reached its log limit of 65536 bytes"), std::string::npos);
  const size_t dropped_at = file.find(" bytes of output dropped here");
  ASSERT_NE(dropped_at, std::string::npos);
  const size_t num = file.rfind("[muster: ", dropped_at) + 9;
  const long dropped = std::stol(file.substr(num, dropped_at - num));
  const size_t markers = file.size() - (64u << 10);  // bytes that are not output
  EXPECT_EQ(static_cast<size_t>(dropped) + (64u << 10), 1288895u) << markers;
  // What the coordinator is sent is the same, and the ring file is gone.
  EXPECT_EQ(sink_.Out(40), file);
  EXPECT_FALSE(fs::exists(dir_ / "logs" / "40.0.1.out.tail"));
  EXPECT_EQ(ReadLog(40, 0, 1, "err"), "small\n");  // a stream under its limit is untouched
}

// No such process, or a zombie nobody reaped.
bool Gone(int pid) {
  if (kill(pid, 0) != 0) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_s, comm, state;
  return !(in >> pid_s >> comm >> state) || state == "Z";
}

TEST_F(LauncherTest, ATinyLogLimitIsRaisedTo64KiB) {
  v1::Launch l = Sh(41, "seq 1 100000");
  l.set_log_limit_bytes(1);  // a malformed launch must not break the agent
  ASSERT_TRUE(launcher_->Launch(l).ok());
  EXPECT_EQ(sink_.WaitEnd(41).state(), v1::TASK_STATE_SUCCEEDED);
  const std::string file = ReadLog(41, 0, 1, "out");
  EXPECT_LT(file.size(), (64u << 10) + 400);
  EXPECT_NE(file.find("log limit of 65536 bytes"), std::string::npos);
  EXPECT_EQ(file.substr(file.size() - 7), "100000\n");
}

TEST_F(LauncherTest, WithCgroupsNothingOfATaskOutlivesItsLeader) {
  auto tree = CgroupTree::Open("test-launcher." + std::to_string(getpid()));
  if (!tree.ok()) GTEST_SKIP() << "no writable cgroup hierarchy here: " << tree.status().message();
  RecordingSink sink;
  const fs::path pidfile = dir_ / "escaped.pid";
  {
    Launcher contained(LauncherOptions{.work_dir = dir_.string(), .cgroups = &*tree}, &sink);
    ASSERT_TRUE(contained.Launch(Sh(50, "setsid sleep 300 & echo $! > " + pidfile.string())).ok());
    EXPECT_EQ(sink.WaitEnd(50).state(), v1::TASK_STATE_SUCCEEDED);
  }
  int escaped = 0;
  std::ifstream(pidfile) >> escaped;
  ASSERT_GT(escaped, 0);
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!Gone(escaped) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(Gone(escaped)) << "a process that left the task's group outlived the task";
  EXPECT_TRUE(tree->List().empty()) << "the attempt's cgroup was not removed";
  tree->RemoveRoot();
}

TEST_F(LauncherTest, OverItsMemoryLimitATaskEndsAsOomWithItsLimitAndPeak) {
  auto tree = CgroupTree::Open("test-launcher-oom." + std::to_string(getpid()));
  if (!tree.ok()) GTEST_SKIP() << "no writable cgroup hierarchy here: " << tree.status().message();
  const auto used = tree->Controllers();
  if (std::none_of(used.begin(), used.end(), [](const std::string& c) { return c.starts_with("memory"); }))
    GTEST_SKIP() << "no memory controller here: " << tree->Describe();
  RecordingSink sink;
  {
    Launcher limited(LauncherOptions{.work_dir = dir_.string(), .cgroups = &*tree}, &sink);
    v1::Launch hog = Sh(60, "exec python3 -c \"b = bytearray(b'x' * (400 << 20))\"");
    hog.set_memory_bytes(64 << 20);
    v1::Launch fits = Sh(61, "exec python3 -c \"b = bytearray(b'x' * (50 << 20))\"");
    fits.set_memory_bytes(256 << 20);
    ASSERT_TRUE(limited.Launch(hog).ok());
    ASSERT_TRUE(limited.Launch(fits).ok());
    const v1::TaskEvent oom = sink.WaitEnd(60);
    EXPECT_EQ(oom.state(), v1::TASK_STATE_OOM);
    EXPECT_NE(oom.message().find("out of memory: limit 64 MiB, peak "), std::string::npos)
        << oom.message();
    EXPECT_EQ(oom.exit_code(), 128 + SIGKILL);
    EXPECT_GT(oom.peak_memory_bytes(), 16 << 20);
    const v1::TaskEvent ok = sink.WaitEnd(61);
    EXPECT_EQ(ok.state(), v1::TASK_STATE_SUCCEEDED) << ok.message();
    EXPECT_GE(ok.peak_memory_bytes(), 50 << 20);
    EXPECT_GT(ok.cpu_seconds(), 0);
  }
  EXPECT_TRUE(tree->List().empty());
  tree->RemoveRoot();
}

TEST_F(LauncherTest, SuccessAndExitCodes) {
  ASSERT_TRUE(launcher_->Launch(Sh(1, "exit 0")).ok());
  ASSERT_TRUE(launcher_->Launch(Sh(2, "exit 3")).ok());
  auto ok = sink_.WaitEnd(1);
  EXPECT_EQ(ok.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(ok.exit_code(), 0);
  auto bad = sink_.WaitEnd(2);
  EXPECT_EQ(bad.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(bad.exit_code(), 3);
  EXPECT_NE(bad.message().find("code 3"), std::string::npos);
  // "running" precedes the end, exactly one terminal event each.
  int running = 0, ends = 0;
  for (const auto& e : sink_.Events()) (e.state() == v1::TASK_STATE_RUNNING ? running : ends)++;
  EXPECT_EQ(running, 2);
  EXPECT_EQ(ends, 2);
  EXPECT_TRUE(launcher_->Running().empty());
}

// The command is looked up in the task's own PATH (a job's env may set one, e.g. an activated
// virtual environment), not the agent's; a script without #! runs through sh as under execvp.
TEST_F(LauncherTest, CommandIsFoundInTheTasksPath) {
  fs::create_directories(dir_ / "tools");
  {
    std::ofstream tool(dir_ / "tools" / "muster-test-tool");
    tool << "echo tool ran\n";  // no #!: run by sh
  }
  fs::permissions(dir_ / "tools" / "muster-test-tool", fs::perms::owner_all);
  v1::Launch l;
  l.set_job_id(21);
  l.set_task_index(0);
  l.set_attempt(1);
  l.set_allow_root(true);
  l.add_command("muster-test-tool");
  (*l.mutable_env())["PATH"] = (dir_ / "tools").string() + ":/usr/bin:/bin";
  ASSERT_TRUE(launcher_->Launch(l).ok());
  EXPECT_EQ(sink_.WaitEnd(21).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.Out(21), "tool ran\n");
  // Without that PATH entry the same name is not found: exit 127 and the documented message.
  v1::Launch missing = l;
  missing.set_job_id(22);
  (*missing.mutable_env())["PATH"] = "/usr/bin:/bin";
  ASSERT_TRUE(launcher_->Launch(missing).ok());
  auto end = sink_.WaitEnd(22);
  EXPECT_EQ(end.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(end.exit_code(), 127);
  EXPECT_EQ(end.message(), "cannot execute 'muster-test-tool': No such file or directory");
}

TEST_F(LauncherTest, EnvironmentAndWorkdir) {
  auto l = Sh(3,
              "echo job=$MUSTER_JOB_ID cvd=[$CUDA_VISIBLE_DEVICES] agent=$FROM_AGENT "
              "home=${HOME:+set} pwd=$(pwd)");
  (*l.mutable_env())["MUSTER_JOB_ID"] = "3";
  (*l.mutable_env())["CUDA_VISIBLE_DEVICES"] = "1,0";
  ASSERT_TRUE(launcher_->Launch(l).ok());
  EXPECT_EQ(sink_.WaitEnd(3).state(), v1::TASK_STATE_SUCCEEDED);
  std::string expect =
      "job=3 cvd=[1,0] agent=yes home=" + std::string(getenv("HOME") ? "set" : "") +
      " pwd=" + fs::canonical(dir_).string() + "\n";
  EXPECT_EQ(sink_.Out(3), expect);

  // Without CUDA_VISIBLE_DEVICES in the launch env, the launch's GPU list is used.
  auto g = Sh(4, "echo [$CUDA_VISIBLE_DEVICES]; cd \"$PWD\"");
  g.add_gpus(2);
  g.add_gpus(5);
  fs::create_directories(dir_ / "wd");
  g.set_workdir((dir_ / "wd").string());
  ASSERT_TRUE(launcher_->Launch(g).ok());
  sink_.WaitEnd(4);
  EXPECT_EQ(sink_.Out(4), "[2,5]\n");
  auto none = Sh(5, "echo [${CUDA_VISIBLE_DEVICES-unset}]");
  ASSERT_TRUE(launcher_->Launch(none).ok());
  sink_.WaitEnd(5);
  EXPECT_EQ(sink_.Out(5), "[]\n");
}

TEST_F(LauncherTest, LogsCapturedToFilesAndSink) {
  ASSERT_TRUE(launcher_->Launch(Sh(6, "echo out1; echo err1 >&2; echo out2; exit 1")).ok());
  sink_.WaitEnd(6);
  EXPECT_EQ(sink_.Out(6), "out1\nout2\n");
  EXPECT_EQ(sink_.Err(6), "err1\n");
  EXPECT_EQ(ReadLog(6, 0, 1, "out"), "out1\nout2\n");
  EXPECT_EQ(ReadLog(6, 0, 1, "err"), "err1\n");
}

TEST_F(LauncherTest, OldLogFilesArePrunedButNotThoseOfTasksStillHere) {
  ASSERT_TRUE(launcher_->Launch(Sh(7, "echo done")).ok());
  sink_.WaitEnd(7);
  ASSERT_TRUE(launcher_->Launch(Sh(8, "echo started; sleep 30")).ok());
  const fs::path done = dir_ / "logs" / "7.0.1.out", live = dir_ / "logs" / "8.0.1.out";
  for (int i = 0; i < 200 && !fs::exists(live); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(done) && fs::exists(live));
  // Both last written twenty days ago.
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(24 * 20);
  fs::last_write_time(done, old);
  fs::last_write_time(live, old);
  EXPECT_EQ(launcher_->PruneLogs(WallMs() - 30LL * 86400 * 1000), 0);  // younger than 30 days
  EXPECT_GE(launcher_->PruneLogs(WallMs() - 14LL * 86400 * 1000), 1);
  EXPECT_FALSE(fs::exists(done));
  EXPECT_TRUE(fs::exists(live));  // its task is still running
  ASSERT_TRUE(launcher_->Kill(8, 0, 1, 100).ok());
}

TEST_F(LauncherTest, LargeOutputIsBatched) {
  // 1 MiB through the pipe: the bytes all arrive, in a bounded number of chunks.
  ASSERT_TRUE(launcher_->Launch(Sh(7, "head -c 1048576 /dev/zero | tr '\\0' x")).ok());
  EXPECT_EQ(sink_.WaitEnd(7).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.Out(7).size(), 1048576u);
  EXPECT_LE(sink_.LogChunks(), 64);
  EXPECT_EQ(fs::file_size(dir_ / "logs" / "7.0.1.out"), 1048576u);
}

TEST_F(LauncherTest, ProgressLinesParsed) {
  ASSERT_TRUE(launcher_
                  ->Launch(Sh(8,
                              "echo 'MUSTER_PROGRESS done=1 total=4 loss=0.5'; "
                              "echo 'not progress'; echo 'MUSTER_PROGRESS done=oops total=4'; "
                              "sleep 0.3; echo 'MUSTER_PROGRESS done=4 total=4 loss=0.1'"))
                  .ok());
  sink_.WaitEnd(8);
  auto p = sink_.Progress();
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.back().job_id(), 8);
  EXPECT_EQ(p.back().progress().done(), 4);
  EXPECT_EQ(p.back().progress().total(), 4);
  EXPECT_EQ(p.back().progress().fields().at("loss"), "0.1");
  EXPECT_LE(p.size(), 2u);  // one per batch at most; the malformed line is skipped
  if (p.size() == 2) {
    EXPECT_EQ(p.front().progress().done(), 1);
  }
  EXPECT_NE(sink_.Out(8).find("not progress"), std::string::npos);
}

TEST_F(LauncherTest, KillEscalatesToSigkill) {
  // The script ignores SIGTERM; Kill must escalate after the grace period.
  ASSERT_TRUE(launcher_
                  ->Launch(Sh(9,
                              "trap 'echo got-term' TERM; echo ready; "
                              "while true; do sleep 0.05; done"))
                  .ok());
  for (int i = 0; i < 100 && sink_.Out(9).empty(); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(sink_.Out(9), "ready\n");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(launcher_->Kill(9, 0, 1, 400).ok());
  auto e = sink_.WaitEnd(9);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(e.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(e.exit_code(), 128 + SIGKILL);
  EXPECT_NE(e.message().find("stopped on request"), std::string::npos);
  EXPECT_GE(waited, 350ms);
  EXPECT_LT(waited, 3s);
  EXPECT_NE(sink_.Out(9).find("got-term"), std::string::npos);
}

TEST_F(LauncherTest, AtItsTimeLimitATaskIsToldWhyThenStoppedAndEndsAsTimeout) {
  // The task catches SIGTERM, reads why, and exits with a code of its own.
  const fs::path reason = dir_ / "ckpt" / ".stop-reason.1";
  v1::Launch l = Sh(12,
                    "trap 'echo stopped: $(cat $MUSTER_STOP_REASON_FILE); exit 7' TERM; "
                    "echo started; while true; do sleep 0.05; done");
  l.set_time_limit_ms(600);
  l.set_signal_grace_ms(2000);
  l.set_stop_reason_file(reason.string());
  (*l.mutable_env())["MUSTER_STOP_REASON_FILE"] = reason.string();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(launcher_->Launch(l).ok());
  auto e = sink_.WaitEnd(12);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(e.state(), v1::TASK_STATE_TIMEOUT);
  EXPECT_EQ(e.exit_code(), 7);  // its own
  EXPECT_NE(e.message().find("reached its time limit of 600ms"), std::string::npos)
      << e.message();
  EXPECT_EQ(sink_.Out(12), "started\nstopped: timeout\n");
  EXPECT_GE(took, 550ms);
  EXPECT_LT(took, 2000ms);  // it left on SIGTERM, before the grace ran out
  // One that ignores SIGTERM is killed when the grace runs out.
  v1::Launch stubborn = Sh(13, "trap '' TERM; while true; do sleep 0.05; done");
  stubborn.set_time_limit_ms(300);
  stubborn.set_signal_grace_ms(300);
  ASSERT_TRUE(launcher_->Launch(stubborn).ok());
  auto killed = sink_.WaitEnd(13);
  EXPECT_EQ(killed.state(), v1::TASK_STATE_TIMEOUT);
  EXPECT_EQ(killed.exit_code(), 128 + SIGKILL);
  // A task that ends within its limit is not touched.
  v1::Launch quick = Sh(14, "exit 0");
  quick.set_time_limit_ms(5000);
  ASSERT_TRUE(launcher_->Launch(quick).ok());
  EXPECT_EQ(sink_.WaitEnd(14).state(), v1::TASK_STATE_SUCCEEDED);
}

TEST_F(LauncherTest, AKillWithAReasonWritesItBeforeTheTerm) {
  const fs::path reason = dir_ / "ckpt" / ".stop-reason.1";
  v1::Launch l = Sh(15,
                    "trap 'echo stopped: $(cat $MUSTER_STOP_REASON_FILE); exit 0' TERM; "
                    "echo started; while true; do sleep 0.05; done");
  l.set_stop_reason_file(reason.string());
  (*l.mutable_env())["MUSTER_STOP_REASON_FILE"] = reason.string();
  ASSERT_TRUE(launcher_->Launch(l).ok());
  for (int i = 0; i < 100 && sink_.Out(15).empty(); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(launcher_->Kill(15, 0, 1, 2000, "migrate").ok());
  auto e = sink_.WaitEnd(15);
  EXPECT_EQ(sink_.Out(15), "started\nstopped: migrate\n");
  EXPECT_EQ(e.state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_TRUE(e.stopped_on_request());
}

TEST_F(LauncherTest, KillTermIsEnoughForPlainScripts) {
  ASSERT_TRUE(launcher_->Launch(Sh(10, "sleep 30")).ok());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(launcher_->Kill(10, 0, 1, 5000).ok());
  auto e = sink_.WaitEnd(10);
  EXPECT_EQ(e.exit_code(), 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(launcher_->Kill(10, 0, 1, 0).ok());  // no longer running
  EXPECT_FALSE(launcher_->Kill(99, 0, 1, 0).ok());
}

TEST_F(LauncherTest, GroupLeftoversKilledWhenLeaderExits) {
  // The script leaves a background sleep behind; the launcher reaps the whole group.
  ASSERT_TRUE(launcher_->Launch(Sh(11, "sleep 60 & echo $!")).ok());
  EXPECT_EQ(sink_.WaitEnd(11, 1, 5s).state(), v1::TASK_STATE_SUCCEEDED);
  int bg = std::atoi(sink_.Out(11).c_str());
  ASSERT_GT(bg, 0);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    // Dead means gone or a zombie awaiting its new parent's wait().
    std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
    std::string pid_field, comm, state;
    gone = !(stat >> pid_field >> comm >> state) || state == "Z" || state == "X";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone);
}

TEST_F(LauncherTest, StaleAttemptRefused) {
  ASSERT_TRUE(launcher_->Launch(Sh(12, "exit 0", 2)).ok());
  sink_.WaitEnd(12, 2);
  auto again = launcher_->Launch(Sh(12, "exit 0", 2));
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(launcher_->Launch(Sh(12, "exit 0", 1)).code(), StatusCode::kFailedPrecondition);
  launcher_->NoteAttempt(13, 0, 5);
  EXPECT_EQ(launcher_->Launch(Sh(13, "exit 0", 5)).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(launcher_->Launch(Sh(13, "exit 0", 6)).ok());
  sink_.WaitEnd(13, 6);
}

TEST_F(LauncherTest, NewerAttemptStopsOlder) {
  ASSERT_TRUE(launcher_->Launch(Sh(14, "sleep 30", 1)).ok());
  ASSERT_TRUE(launcher_->Launch(Sh(14, "exit 0", 2)).ok());
  EXPECT_EQ(sink_.WaitEnd(14, 1).state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(sink_.WaitEnd(14, 2).state(), v1::TASK_STATE_SUCCEEDED);
}

// The older attempt takes its time to stop (it finishes a checkpoint on SIGTERM): the newer one
// starts only once it has ended, never beside it (the grace here is 300 ms).
TEST_F(LauncherTest, NewerAttemptStartsOnlyAfterTheOlderHasEnded) {
  const std::string order = (dir_ / "order").string();
  ASSERT_TRUE(launcher_->Launch(Sh(18,
                                   "trap 'sleep 0.2; echo old-ended >> " + order +
                                       "; exit 0' TERM; echo up; while :; do sleep 0.05; done",
                                   1))
                  .ok());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sink_.Out(18).find("up") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(launcher_->Launch(Sh(18, "echo new-started >> " + order, 2)).ok());
  sink_.WaitEnd(18, 1);
  EXPECT_EQ(sink_.WaitEnd(18, 2).state(), v1::TASK_STATE_SUCCEEDED);
  std::ifstream in(order);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "old-ended\nnew-started\n");
}

TEST_F(LauncherTest, ExecFailureIsClear) {
  v1::Launch l;
  l.set_job_id(15);
  l.set_attempt(1);
  l.set_allow_root(true);
  l.add_command("no-such-command-muster");
  ASSERT_TRUE(launcher_->Launch(l).ok());
  auto e = sink_.WaitEnd(15, 1, 2s);
  EXPECT_EQ(e.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(e.exit_code(), 127);
  EXPECT_EQ(e.message(), "cannot execute 'no-such-command-muster': No such file or directory");
  EXPECT_NE(ReadLog(15, 0, 1, "err").find("cannot execute"), std::string::npos);

  auto w = Sh(16, "true");
  w.set_workdir("/no/such/dir");
  ASSERT_TRUE(launcher_->Launch(w).ok());
  EXPECT_EQ(sink_.WaitEnd(16, 1, 2s).message(),
            "cannot change to working directory '/no/such/dir': No such file or directory");

  v1::Launch empty;
  empty.set_job_id(17);
  empty.set_attempt(1);
  EXPECT_EQ(launcher_->Launch(empty).code(), StatusCode::kInvalidArgument);
}

TEST_F(LauncherTest, SignalExitReported) {
  ASSERT_TRUE(launcher_->Launch(Sh(18, "kill -SEGV $$")).ok());
  auto e = sink_.WaitEnd(18);
  EXPECT_EQ(e.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(e.exit_code(), 128 + SIGSEGV);
  EXPECT_NE(e.message().find("signal 11"), std::string::npos);
}

TEST_F(LauncherTest, StopAllEndsEverything) {
  for (int j = 20; j < 24; ++j) ASSERT_TRUE(launcher_->Launch(Sh(j, "sleep 30")).ok());
  EXPECT_EQ(launcher_->Running().size(), 4u);
  EXPECT_TRUE(launcher_->StopAll(1000));
  EXPECT_TRUE(launcher_->Running().empty());
  for (int j = 20; j < 24; ++j) {
    auto e = sink_.WaitEnd(j);
    EXPECT_EQ(e.state(), v1::TASK_STATE_LOST);  // not the task's own failure: it is to be requeued
    EXPECT_NE(e.message().find("agent shut down"), std::string::npos);
  }
  EXPECT_EQ(launcher_->Launch(Sh(25, "exit 0")).code(), StatusCode::kUnavailable);
}

// The agent's own environment never reaches a task: only the allowed few and the user's.
TEST_F(LauncherTest, TasksGetACleanEnvironment) {
  setenv("MUSTER_TEST_AGENT_SECRET", "leaked", 1);
  ASSERT_TRUE(launcher_
                  ->Launch(Sh(1, "echo secret=${MUSTER_TEST_AGENT_SECRET:-none} "
                                 "from=$FROM_AGENT user=$USER path=${PATH:+set}"))
                  .ok());
  EXPECT_EQ(sink_.WaitEnd(1).state(), v1::TASK_STATE_SUCCEEDED);
  unsetenv("MUSTER_TEST_AGENT_SECRET");
  const std::string out = sink_.Out(1);
  EXPECT_NE(out.find("secret=none"), std::string::npos) << out;
  EXPECT_NE(out.find("from=yes"), std::string::npos) << out;
  EXPECT_NE(out.find("path=set"), std::string::npos) << out;
  EXPECT_EQ(out.find("user= "), std::string::npos) << out;  // USER from the user database
}

TEST_F(LauncherTest, ATaskOfAnUnknownUserIsRefusedWithWhy) {
  v1::Launch l = Sh(2, "true");
  l.set_user("no-such-user-here");
  Status st = launcher_->Launch(l);
  EXPECT_FALSE(st.ok());
  if (geteuid() == 0) {
    EXPECT_EQ(st.code(), StatusCode::kNotFound);
    EXPECT_NE(st.message().find("user no-such-user-here does not exist on this node"),
              std::string::npos)
        << st.message();
  } else {  // an agent that is not root runs only its own user's tasks
    EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  }
}

TEST_F(LauncherTest, RootTasksOnlyWhenTheClusterAllowsThem) {
  if (geteuid() != 0) GTEST_SKIP() << "the agent must be root to run tasks as root";
  v1::Launch l = Sh(3, "id -u");
  l.set_user("root");
  l.set_allow_root(false);
  Status st = launcher_->Launch(l);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.message();
  l.set_attempt(2);
  l.set_allow_root(true);
  ASSERT_TRUE(launcher_->Launch(l).ok());
  EXPECT_EQ(sink_.WaitEnd(3, 2).state(), v1::TASK_STATE_SUCCEEDED);
  EXPECT_EQ(sink_.Out(3, 2), "0\n");
}

TEST_F(LauncherTest, ARootAgentRunsATaskAsItsOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "the agent must be root to run tasks as other users";
  // nobody (65534) exists on every Debian system.
  const fs::path ckpt = dir_ / "ckpt" / "4";
  v1::Launch l = Sh(4, "id -u; id -g; echo $HOME $USER; touch \"$MUSTER_CHECKPOINT_DIR/x\"; cd /");
  l.set_user("nobody");
  (*l.mutable_env())["MUSTER_CHECKPOINT_DIR"] = ckpt.string();
  l.set_checkpoint_dir(ckpt.string());
  l.set_workdir("/");
  ASSERT_TRUE(launcher_->Launch(l).ok());
  v1::TaskEvent end = sink_.WaitEnd(4);
  EXPECT_EQ(end.state(), v1::TASK_STATE_SUCCEEDED) << end.message() << sink_.Err(4);
  EXPECT_EQ(sink_.Out(4), "65534\n65534\n/nonexistent nobody\n") << sink_.Err(4);
  // Its checkpoint directory was given to it, and only to it.
  struct stat st {};
  ASSERT_EQ(stat(ckpt.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(fs::exists(ckpt / "x"));
  // A directory a job names itself is never given away (a root agent would hand over anything).
  const fs::path mine = dir_ / "roots";
  fs::create_directories(mine);
  v1::Launch named = Sh(6, "true");
  named.set_user("nobody");
  (*named.mutable_env())["MUSTER_CHECKPOINT_DIR"] = mine.string();
  ASSERT_TRUE(launcher_->Launch(named).ok());
  sink_.WaitEnd(6);
  ASSERT_EQ(stat(mine.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  // A working directory the user may not enter fails the task, checked as that user.
  fs::create_directories(dir_ / "private");
  fs::permissions(dir_ / "private", fs::perms::owner_all);
  v1::Launch denied = Sh(5, "true");
  denied.set_user("nobody");
  denied.set_workdir((dir_ / "private").string());
  ASSERT_TRUE(launcher_->Launch(denied).ok());  // started, then failed: reported as an event
  v1::TaskEvent e = sink_.WaitEnd(5);
  EXPECT_EQ(e.state(), v1::TASK_STATE_FAILED);
  EXPECT_NE(e.message().find("Permission denied"), std::string::npos) << e.message();
}

}  // namespace
}  // namespace muster::agent
