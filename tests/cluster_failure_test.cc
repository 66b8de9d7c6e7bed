// Integration: crashes. kill -9 of an agent while its tasks run -> they are requeued and finish on
// the other agent; kill -9 of the coordinator in the middle of a stream of 1,000 submissions ->
// after a restart on the same state directory every acknowledged job exists and every task ran
// exactly once (tasks append "job attempt" to a shared file; no job may appear twice).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "cluster/agent/task_cgroup.h"
#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

TEST(ClusterFailure, AgentKilledMidRunTasksFinishElsewhere) {
  TestCluster cluster(ClusterOptions{
      .agents = 2, .gpus_per_agent = 2, .cpus_per_agent = 8, .coordinator_args = {}});
  ASSERT_EQ(cluster.Start(), "");
  fs::path work = cluster.dir() / "work";
  fs::create_directories(work / "done");
  // Four 1-GPU tasks fill both nodes; each takes ~3 s and records where it finished.
  int64_t id = cluster.Submit({"--array", "0-3", "--gpus", "1", "--retries", "2", "--workdir",
                               work.string(), "--", "/bin/sh", "-c",
                               "sleep 3; echo $MUSTER_ATTEMPT > done/$MUSTER_TASK_INDEX"});
  ASSERT_GT(id, 0);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  v1::JobInfo job;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = cluster.client().GetJob(id);
    if (j.ok() && j->task_state_counts().contains("running") &&
        j->task_state_counts().at("running") == 4) {
      job = *j;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(job.tasks_size(), 4) << "tasks did not all start" << cluster.LogTails();
  std::set<int> on_node0;
  for (const auto& t : job.tasks())
    if (t.node() == "node-0") on_node0.insert(t.index());
  ASSERT_FALSE(on_node0.empty());

  cluster.KillAgent(0, SIGKILL);
  v1::JobInfo done = cluster.WaitForJob(id, 60s);
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.reason() << cluster.LogTails();
  for (const auto& t : done.tasks()) {
    EXPECT_EQ(t.node(), "node-1") << "task " << t.index();
    if (on_node0.contains(t.index())) {
      EXPECT_GT(t.attempt(), 1) << "task " << t.index();
    }
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(fs::exists(work / "done" / std::to_string(i))) << i;
  auto nodes = cluster.client().ListNodes();
  ASSERT_TRUE(nodes.ok());
  for (const auto& n : nodes->nodes())
    if (n.spec().name() == "node-0") {
      EXPECT_NE(n.state(), "ready");
    }
}

TEST(ClusterFailure, CoordinatorKilledDuringSubmissionStreamLosesNothing) {
  TestCluster cluster(ClusterOptions{
      .agents = 2, .gpus_per_agent = 0, .cpus_per_agent = 16, .coordinator_args = {}});
  ASSERT_EQ(cluster.Start(), "");
  fs::path runs = cluster.dir() / "runs.txt";
  v1::JobSpec spec;
  spec.set_name("append");
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  spec.add_command("echo \"$MUSTER_JOB_ID $MUSTER_ATTEMPT\" >> " + runs.string());
  spec.set_workdir(cluster.dir().string());
  spec.set_tasks(1);
  spec.mutable_resources()->set_milli_cpus(100);
  spec.mutable_resources()->set_memory_mib(16);

  constexpr int kTotal = 1000;
  constexpr int kThreads = 4;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};  // refused attempts (the coordinator was down)
  std::mutex mu;
  std::vector<int64_t> acked;
  std::vector<std::thread> threads;
  client::CoordinatorClient submitter(cluster.OwnerClientOptions(2000ms));
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (true) {
        int i = next.fetch_add(1);
        if (i >= kTotal) return;
        // Like a script that resubmits until acknowledged (an unacknowledged attempt may or
        // may not have been stored; only acknowledged ids are checked below).
        auto give_up = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < give_up) {
          auto id = submitter.Submit(spec);
          if (id.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            acked.push_back(*id);
            break;
          }
          ++failures;
          std::this_thread::sleep_for(50ms);  // the coordinator is down; retry
        }
      }
    });
  }
  // Kill the coordinator once a few hundred jobs were acknowledged, restart it after a pause.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  auto acked_now = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  while (acked_now() < 300 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  cluster.KillCoordinator(SIGKILL);
  const size_t acked_before_kill = acked_now();
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(cluster.StartCoordinator(), "");
  for (auto& th : threads) th.join();
  ASSERT_TRUE(cluster.WaitForReadyNodes(2, 20s)) << cluster.LogTails();

  size_t acked_count;
  {
    std::lock_guard<std::mutex> lock(mu);
    acked_count = acked.size();
  }
  ASSERT_GE(acked_before_kill, 300u);
  // The stream went on after the restart.
  ASSERT_EQ(acked_count, size_t{kTotal}) << cluster.LogTails();
  std::printf("submitted %d, acknowledged %zu, refused while down %d\n", kTotal, acked_count,
              failures.load());

  // Every acknowledged job exists and finishes.
  std::set<int64_t> pending(acked.begin(), acked.end());
  EXPECT_EQ(pending.size(), acked_count) << "a job id was handed out twice";
  deadline = std::chrono::steady_clock::now() + 90s;
  while (!pending.empty() && std::chrono::steady_clock::now() < deadline) {
    v1::ListJobsRequest req;
    req.set_include_finished(true);
    auto list = cluster.client().ListJobs(req);
    if (list.ok()) {
      for (const auto& j : list->jobs()) {
        if (j.state() == v1::JOB_STATE_SUCCEEDED) pending.erase(j.job_id());
        ASSERT_NE(j.state(), v1::JOB_STATE_FAILED) << "job " << j.job_id() << ": " << j.reason();
      }
    }
    if (!pending.empty()) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(pending.empty()) << pending.size() << " acknowledged jobs did not finish, e.g. "
                               << *pending.begin() << cluster.LogTails();
  for (int64_t id : acked) {
    auto j = cluster.client().GetJob(id);
    ASSERT_TRUE(j.ok()) << "acknowledged job " << id << " is gone";
  }

  // Each job ran exactly once: one line per job id in the shared file.
  std::map<int64_t, int> runs_per_job;
  std::set<std::pair<int64_t, int64_t>> seen;
  std::istringstream in(ReadFile(runs));
  int64_t job, attempt;
  while (in >> job >> attempt) {
    EXPECT_TRUE(seen.insert({job, attempt}).second)
        << "job " << job << " attempt " << attempt << " ran twice";
    ++runs_per_job[job];
  }
  for (int64_t id : acked) {
    EXPECT_EQ(runs_per_job[id], 1) << "job " << id << " ran " << runs_per_job[id] << " times";
  }
}

// Waits until job `id` has a running task; that task (index 0), or an empty one on timeout.
v1::TaskInfo WaitRunning(TestCluster& cluster, int64_t id, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = cluster.client().GetJob(id);
    if (j.ok() && j->tasks_size() > 0 && j->tasks(0).state() == v1::TASK_STATE_RUNNING) return j->tasks(0);
    std::this_thread::sleep_for(50ms);
  }
  return {};
}

// Whether some process's command line contains `needle`.
bool ProcessWithCommandLine(const std::string& needle) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) return true;
  }
  return false;
}

// The partition a frozen agent looks like: its task writes a line every 100 ms while the agent is
// stopped (SIGSTOP) for longer than the node's lease. The fence stops the task before the
// coordinator starts attempt 2 elsewhere, so the two attempts never write at the same time.
TEST(ClusterFailure, FrozenAgentsTaskIsStoppedBeforeItRunsElsewhere) {
  TestCluster cluster(ClusterOptions{
      .agents = 2, .gpus_per_agent = 1, .cpus_per_agent = 8, .coordinator_args = {}});
  ASSERT_EQ(cluster.Start(), "");
  fs::path lines = cluster.dir() / "lines.txt";
  int64_t id = cluster.Submit(
      {"--gpus", "1", "--retries", "2", "--workdir", cluster.dir().string(), "--", "/bin/sh",
       "-c",
       "for i in $(seq 1 50); do echo \"$MUSTER_ATTEMPT $(date +%s%3N)\" >> lines.txt; "
       "sleep 0.1; done"});
  ASSERT_GT(id, 0);
  v1::TaskInfo first = WaitRunning(cluster, id, 20s);
  ASSERT_FALSE(first.node().empty()) << cluster.LogTails();
  const int frozen = first.node() == "node-0" ? 0 : 1;
  cluster.SignalAgent(frozen, SIGSTOP);
  // Lease 2 s + grace 1 s + margin 1 s: the coordinator gives the node up after about 4 s.
  std::this_thread::sleep_for(7s);
  cluster.SignalAgent(frozen, SIGCONT);
  v1::JobInfo done = cluster.WaitForJob(id, 60s);
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.reason() << cluster.LogTails();
  ASSERT_GE(done.tasks(0).attempt(), 2) << "the task was not requeued" << cluster.LogTails();
  std::ifstream in(lines);
  std::map<int, std::pair<int64_t, int64_t>> span;  // attempt -> first, last line time
  int attempt = 0;
  int64_t ms = 0;
  while (in >> attempt >> ms) {
    auto [it, fresh] = span.try_emplace(attempt, ms, ms);
    it->second.first = std::min(it->second.first, ms);
    it->second.second = std::max(it->second.second, ms);
  }
  ASSERT_GE(span.size(), 2u);
  for (auto a = span.begin(), b = std::next(a); b != span.end(); ++a, ++b)
    EXPECT_LT(a->second.second, b->second.first)
        << "attempts " << a->first << " and " << b->first << " wrote at the same time";
}

// kill -9 of an agent running a pipeline: every process of the task goes, not just the leader;
// where tasks get cgroups, also one that left the task's process group (setsid).
TEST(ClusterFailure, AgentKilledLeavesNoProcessOfItsTasks) {
  TestCluster cluster(ClusterOptions{
      .agents = 1, .gpus_per_agent = 0, .cpus_per_agent = 8, .coordinator_args = {}});
  ASSERT_EQ(cluster.Start(), "");
  const std::string marker = "sleep 317." + std::to_string(getpid());
  const std::string escapee = "sleep 318." + std::to_string(getpid());
  auto probe = agent::CgroupTree::Open("probe-failure." + std::to_string(getpid()));
  const bool cgroups = probe.ok();
  if (cgroups) probe->RemoveRoot();
  const std::string script =
      (cgroups ? "setsid " + escapee + " & " : std::string()) + marker + " | cat";
  int64_t id = cluster.Submit({"--cpus", "1", "--", "/bin/sh", "-c", script});
  ASSERT_GT(id, 0);
  ASSERT_FALSE(WaitRunning(cluster, id, 20s).node().empty()) << cluster.LogTails();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!ProcessWithCommandLine(marker) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(ProcessWithCommandLine(marker)) << "the pipeline never started";
  if (cgroups) ASSERT_TRUE(ProcessWithCommandLine(escapee)) << "the setsid process never started";
  cluster.KillAgent(0, SIGKILL);
  deadline = std::chrono::steady_clock::now() + 5s;
  while ((ProcessWithCommandLine(marker) || ProcessWithCommandLine(escapee)) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ProcessWithCommandLine(marker)) << "a process of the task outlived its agent";
  EXPECT_FALSE(ProcessWithCommandLine(escapee)) << "a process that left the task's group survived";
  if (!cgroups) std::fprintf(stderr, "no cgroups here: the setsid case was not tried\n");
}

// kill -9 of an agent that is started again within its node's lease: the task keeper kept the
// task running and its output flowing, the new agent adopts it, and the task ends once, as
// attempt 1, with its output (also what it wrote while no agent was there) in its log.
TEST(ClusterFailure, AnAgentRestartedAfterACrashAdoptsItsRunningTask) {
  TestCluster cluster(ClusterOptions{
      .agents = 1, .gpus_per_agent = 0, .cpus_per_agent = 8, .coordinator_args = {}});
  ASSERT_EQ(cluster.Start(), "");
  fs::path work = cluster.dir() / "adopt";
  fs::create_directories(work);
  int64_t id = cluster.Submit(
      {"--cpus", "1", "--workdir", work.string(), "--", "/bin/sh", "-c",
       "echo start >> starts; for i in $(seq 1 30); do echo \"line $i attempt $MUSTER_ATTEMPT\"; "
       "sleep 0.1; done; exit 0"});
  ASSERT_GT(id, 0);
  ASSERT_FALSE(WaitRunning(cluster, id, 20s).node().empty()) << cluster.LogTails();
  std::this_thread::sleep_for(500ms);
  cluster.KillAgent(0, SIGKILL);
  std::this_thread::sleep_for(500ms);  // well within the 2 s lease
  ASSERT_EQ(cluster.StartAgent(0), "") << cluster.LogTails();
  v1::JobInfo done = cluster.WaitForJob(id, 30s);
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.reason() << cluster.LogTails();
  EXPECT_EQ(done.tasks(0).attempt(), 1) << "the task was run again instead of adopted";
  EXPECT_EQ(ReadFile(work / "starts"), "start\n") << "the task started more than once";
  CommandResult logs = cluster.Muster({"logs", std::to_string(id)});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("line 30 attempt 1\n"), std::string::npos) << logs.out;
  // What the dead agent had read but not yet sent (one flush, 100 ms) is only in its log file;
  // everything written while no agent was there waited in the pipe and is here.
  int missing = 0;
  for (int i = 1; i <= 30; ++i)
    missing += logs.out.find("line " + std::to_string(i) + " attempt 1\n") == std::string::npos;
  EXPECT_LE(missing, 2) << logs.out;
  EXPECT_EQ(logs.out.find("attempt 2"), std::string::npos) << logs.out;
}

// The coordinator's disk fills up (its state dir on a small tmpfs): it turns read-only, says so,
// refuses submissions with one line, and takes them again by itself once there is room.
TEST(ClusterFailure, AFullDiskMakesTheCoordinatorReadOnlyUntilThereIsRoom) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  TestCluster cluster({.agents = 1});
  const std::string state = cluster.state_dir().string();
  if (std::system(("mount -t tmpfs -o size=16m muster-test-full " + state).c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)std::system(("umount -l " + dir).c_str()); }
  } unmount{state};
  ASSERT_EQ(cluster.Start(), "");
  const int64_t before = cluster.Submit({"--", "/bin/true"});
  ASSERT_GT(before, 0);
  // Fill the disk.
  const std::string filler = state + "/filler";
  (void)std::system(("dd if=/dev/zero of=" + filler + " bs=1M count=64 2>/dev/null").c_str());
  CommandResult refused;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  do {  // the first failing write may be the submission's own; then the coordinator says why
    refused = cluster.Muster({"submit", "--", "/bin/true"});
    if (refused.err.find("read-only") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("the coordinator is read-only: its state store cannot write"),
            std::string::npos)
      << refused.err;
  // Reads go on, and say why.
  CommandResult queue = cluster.Muster({"queue", "-a"});
  EXPECT_EQ(queue.exit_code, 0) << queue.err;
  EXPECT_NE(queue.out.find(std::to_string(before)), std::string::npos) << queue.out;
  EXPECT_NE(queue.err.find("warning: the coordinator is read-only"), std::string::npos)
      << queue.err;
  CommandResult nodes = cluster.Muster({"nodes"});
  EXPECT_NE(nodes.err.find("read-only"), std::string::npos) << nodes.err;
  // Room again: it takes changes by itself.
  std::filesystem::remove(filler);
  CommandResult again;
  deadline = std::chrono::steady_clock::now() + 20s;
  do {
    std::this_thread::sleep_for(200ms);
    again = cluster.Muster({"submit", "-q", "--", "/bin/true"});
  } while (again.exit_code != 0 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(cluster.WaitForJob(std::stoll(again.out), 30s).state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(cluster.WaitForJob(before, 30s).state(), v1::JOB_STATE_SUCCEEDED);
  CommandResult clean = cluster.Muster({"queue"});
  EXPECT_EQ(clean.err.find("read-only"), std::string::npos) << clean.err;
  cluster.KillCoordinator(SIGTERM);  // before the tmpfs goes
}

}  // namespace
}  // namespace muster::testing
