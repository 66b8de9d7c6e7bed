// Integration: the job life cycle through the real CLI on a 2-agent cluster with virtual GPUs —
// a single task, an array with a dependent merge job, a 2-rank gang across both agents, --wait,
// cancel and `logs -f`.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

class ClusterJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err = cluster_.Start();
    ASSERT_EQ(err, "");
    work_ = cluster_.dir() / "work";
    fs::create_directories(work_);
  }

  TestCluster cluster_;
  fs::path work_;
};

TEST_F(ClusterJobs, SingleTaskRunsInItsWorkdirAndIsShown) {
  int64_t id =
      cluster_.Submit({"--name", "hello", "--workdir", work_.string(), "--", "/bin/sh", "-c",
                       "echo hello-$MUSTER_JOB_ID-$MUSTER_TASK_INDEX > out.txt; "
                       "echo to-stdout; echo to-stderr >&2"});
  ASSERT_GT(id, 0);
  v1::JobInfo job = cluster_.WaitForJob(id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason() << cluster_.LogTails();
  EXPECT_EQ(ReadFile(work_ / "out.txt"), "hello-" + std::to_string(id) + "-0\n");
  ASSERT_EQ(job.tasks_size(), 1);
  EXPECT_EQ(job.tasks(0).exit_code(), 0);
  EXPECT_FALSE(job.tasks(0).node().empty());

  CommandResult show = cluster_.Muster({"show", std::to_string(id)});
  EXPECT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("succeeded"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("hello"), std::string::npos);

  CommandResult queue = cluster_.Muster({"queue", "--all", "-o", "json"});
  EXPECT_EQ(queue.exit_code, 0) << queue.err;
  auto list = nlohmann::json::parse(queue.out);
  ASSERT_EQ(list.size(), 1u) << queue.out;
  EXPECT_EQ(list[0]["job_id"], id);
  EXPECT_EQ(list[0]["state"], "succeeded");

  // Finished jobs leave the default queue view.
  CommandResult pending = cluster_.Muster({"queue", "-o", "json"});
  EXPECT_EQ(nlohmann::json::parse(pending.out).size(), 0u) << pending.out;

  // Logs are served by the coordinator after the task ended.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  CommandResult logs, errs;
  do {
    logs = cluster_.Muster({"logs", std::to_string(id)});
    errs = cluster_.Muster({"logs", std::to_string(id) + ".0", "--stderr"});
    if (logs.out == "to-stdout\n" && errs.out == "to-stderr\n") break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "to-stdout\n");
  EXPECT_EQ(errs.out, "to-stderr\n");
}

// `yes` as a task: its logs stay under the limit everywhere (the agent's work dir and the
// coordinator's state dir), keep the beginning and the end, and say what was dropped.
TEST_F(ClusterJobs, ChattyTaskStaysUnderItsLogLimit) {
  int64_t id = cluster_.Submit({"--log-limit", "1M", "--cpus", "0.5", "--", "timeout", "2", "yes"});
  ASSERT_GT(id, 0);
  v1::JobInfo job = cluster_.WaitForJob(id, 30s);
  ASSERT_EQ(job.state(), v1::JOB_STATE_FAILED) << job.reason() << cluster_.LogTails();  // timeout exits 124
  EXPECT_EQ(job.tasks(0).exit_code(), 124);
  const fs::path stored = cluster_.state_dir() / "logs" / std::to_string(id) / "0.out";
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = ReadFile(stored);
    if (text.find("bytes of output dropped here") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(text.size(), (1u << 20) + 1024) << "the coordinator kept more than the limit";
  EXPECT_GT(text.size(), (1u << 20) - 1024);
  EXPECT_EQ(text.compare(0, 4, "y\ny\n"), 0);
  EXPECT_EQ(text.substr(text.size() - 4), "y\ny\n");
  EXPECT_NE(text.find("bytes of output dropped here"), std::string::npos) << text.substr(0, 200);
  for (const auto& node : {"node-0", "node-1"}) {
    const fs::path local =
        cluster_.dir() / node / "logs" / (std::to_string(id) + ".0.1.out");
    if (fs::exists(local)) EXPECT_LT(fs::file_size(local), (1u << 20) + 1024) << local;
  }
  // The limit is checked against the cluster's maximum, and must be a size.
  CommandResult big = cluster_.Muster({"submit", "--log-limit", "5G", "--", "true"});
  EXPECT_NE(big.exit_code, 0);
  EXPECT_NE(big.err.find("above this cluster's maximum of 1024M"), std::string::npos) << big.err;
  CommandResult zero = cluster_.Muster({"submit", "--log-limit", "0", "--", "true"});
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.err.find("--log-limit"), std::string::npos) << zero.err;
}

TEST_F(ClusterJobs, ArrayOfHundredThenMergeSeesEveryOutput) {
  fs::create_directories(work_ / "parts");
  int64_t array = cluster_.Submit({"--array", "0-99", "--cpus", "100m", "--mem", "16M", "--workdir",
                                   work_.string(), "--", "/bin/sh", "-c",
                                   "echo $MUSTER_TASK_INDEX > parts/$MUSTER_TASK_INDEX; "
                                   "echo part-$MUSTER_TASK_INDEX"});
  ASSERT_GT(array, 0);
  // The merge job checks that all 100 parts exist and sums them (0 + ... + 99 = 4950).
  int64_t merge = cluster_.Submit(
      {"--after", std::to_string(array), "--workdir", work_.string(), "--", "/bin/sh", "-c",
       "test $(ls parts | wc -l) -eq 100 || exit 3; "
       "s=0; for f in parts/*; do s=$((s + $(cat $f))); done; echo $s > merged"});
  ASSERT_GT(merge, 0);
  v1::JobInfo m = cluster_.WaitForJob(merge, 90s);
  v1::JobInfo a = cluster_.WaitForJob(array, 5s);
  ASSERT_EQ(a.state(), v1::JOB_STATE_SUCCEEDED) << a.reason() << cluster_.LogTails();
  ASSERT_EQ(m.state(), v1::JOB_STATE_SUCCEEDED) << m.reason() << cluster_.LogTails();
  EXPECT_EQ(ReadFile(work_ / "merged"), "4950\n");
  EXPECT_EQ(a.task_state_counts().at("succeeded"), 100);
  // `show` summarises 100 tasks by state; --tasks lists every one.
  CommandResult show = cluster_.Muster({"show", std::to_string(array)});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("task states 100 succeeded"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("(100 more tasks"), std::string::npos) << show.out;
  EXPECT_EQ(show.out.find("TASK  STATE"), std::string::npos) << show.out;
  CommandResult all = cluster_.Muster({"show", std::to_string(array), "--tasks"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("\n99    succeeded"), std::string::npos) << all.out;
  // The merge started only after the last array task ended.
  int64_t last_end = 0;
  for (const auto& t : a.tasks()) last_end = std::max(last_end, t.end_ms());
  if (last_end > 0 && m.start_ms() > 0) {
    EXPECT_GE(m.start_ms(), last_end);
  }
  // `logs JOB` of a many-task job prefixes each line with its task index.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  CommandResult logs;
  std::vector<std::string> lines;
  do {
    logs = cluster_.Muster({"logs", std::to_string(array)});
    std::istringstream in(logs.out);
    lines.clear();
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    if (lines.size() >= 100) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  ASSERT_EQ(lines.size(), 100u) << logs.out;
  std::set<std::string> expected, got(lines.begin(), lines.end());
  for (int i = 0; i < 100; ++i)
    expected.insert("[" + std::to_string(i) + "] part-" + std::to_string(i));
  EXPECT_EQ(got, expected);
}

TEST_F(ClusterJobs, TwoRankGangSpansBothAgentsWithTorchrunEnvironment) {
  // Each rank checks its own environment and exits non-zero if anything is off.
  const std::string script = R"(
set -e
test "$WORLD_SIZE" = 2
test "$RANK" = 0 -o "$RANK" = 1
test "$LOCAL_RANK" = 0
test "$LOCAL_WORLD_SIZE" = 1
test -n "$MASTER_ADDR"
case "$MASTER_PORT" in ''|*[!0-9]*) exit 4;; esac
case "$CUDA_VISIBLE_DEVICES" in [0-9]) ;; *) exit 5;; esac
test "$MUSTER_TASK_INDEX" = "$RANK"
echo "$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT $CUDA_VISIBLE_DEVICES $GROUP_RANK" > rank_$RANK
)";
  int64_t id = cluster_.Submit({"--tasks", "2", "--ranks-per-node", "1", "--gpus", "1", "--workdir",
                                work_.string(), "--", "/bin/sh", "-c", script});
  ASSERT_GT(id, 0);
  v1::JobInfo job = cluster_.WaitForJob(id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason() << cluster_.LogTails();
  EXPECT_TRUE(job.spec().gang());
  ASSERT_EQ(job.tasks_size(), 2);
  EXPECT_NE(job.tasks(0).node(), job.tasks(1).node());
  std::istringstream r0(ReadFile(work_ / "rank_0")), r1(ReadFile(work_ / "rank_1"));
  std::string rank[2], world[2], local[2], addr[2], port[2], cuda[2], group[2];
  r0 >> rank[0] >> world[0] >> local[0] >> addr[0] >> port[0] >> cuda[0] >> group[0];
  r1 >> rank[1] >> world[1] >> local[1] >> addr[1] >> port[1] >> cuda[1] >> group[1];
  EXPECT_EQ(rank[0], "0");
  EXPECT_EQ(rank[1], "1");
  EXPECT_EQ(addr[0], addr[1]);
  EXPECT_EQ(port[0], port[1]);
  EXPECT_NE(group[0], group[1]);  // one rank per node: different group ranks
  // Each rank sees exactly the GPU it was given.
  for (const auto& t : job.tasks()) {
    ASSERT_EQ(t.gpus_size(), 1);
    EXPECT_EQ(cuda[t.index()], std::to_string(t.gpus(0)));
  }
}

TEST_F(ClusterJobs, WaitFollowsProgressAndReturnsTheJobStatus) {
  CommandResult ok = cluster_.Muster(
      {"submit", "--wait", "--workdir", work_.string(), "--", "/bin/sh", "-c",
       "for i in 1 2 3 4 5; do echo MUSTER_PROGRESS done=$i total=5 epoch=1 loss=0.$i; "
       "sleep 0.3; done"},
      60s);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err << cluster_.LogTails();
  EXPECT_NE(ok.out.find("succeeded"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("/5"), std::string::npos) << "no progress line shown:\n" << ok.out;

  CommandResult bad = cluster_.Muster(
      {"submit", "--wait", "--workdir", work_.string(), "--", "/bin/sh", "-c", "exit 7"}, 60s);
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("failed"), std::string::npos) << bad.out;
}

TEST_F(ClusterJobs, CtrlCStopsWaitingButNotTheJob) {
  Process wait;
  ASSERT_TRUE(wait.Start({MusterBinary(), "submit", "--wait", "--coordinator", cluster_.address(),
                          "--workdir", work_.string(), "--", "sleep", "30"},
                         cluster_.dir() / "wait.out", cluster_.dir() / "wait.err",
                         {{"MUSTER_STATE_DIR", cluster_.state_dir().string()}}));
  // Wait until the job runs, then press Ctrl-C.
  int64_t id = 0;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto list = cluster_.client().ListJobs(v1::ListJobsRequest());
    if (list.ok() && list->jobs_size() == 1 && list->jobs(0).state() == v1::JOB_STATE_RUNNING) {
      id = list->jobs(0).job_id();
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(id, 0) << cluster_.LogTails();
  wait.Signal(SIGINT);
  auto code = wait.Wait(5s);
  ASSERT_TRUE(code.has_value()) << "submit --wait ignored Ctrl-C";
  EXPECT_EQ(*code, 130);
  std::string err = ReadFile(cluster_.dir() / "wait.err");
  EXPECT_NE(err.find("stopped waiting; job " + std::to_string(id) + " keeps running"),
            std::string::npos)
      << err;
  auto job = cluster_.client().GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(cluster_.Muster({"cancel", std::to_string(id)}).exit_code, 0);
}

TEST_F(ClusterJobs, CancelKillsTheTaskAndReportsUnknownIds) {
  int64_t id = cluster_.Submit(
      {"--workdir", work_.string(), "--", "/bin/sh", "-c", "echo $$ > pid; exec sleep 60"});
  ASSERT_GT(id, 0);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!fs::exists(work_ / "pid") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(fs::exists(work_ / "pid")) << cluster_.LogTails();
  std::this_thread::sleep_for(100ms);
  pid_t pid = std::stoi(ReadFile(work_ / "pid"));

  CommandResult r = cluster_.Muster({"cancel", std::to_string(id), "999999"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("cancelled job " + std::to_string(id)), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;
  v1::JobInfo job = cluster_.WaitForJob(id, 15s);
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_NE(kill(pid, 0), 0) << "the task's process is still alive after cancel";
}

TEST_F(ClusterJobs, LogsFollowStreamsUntilTheTaskEnds) {
  int64_t id = cluster_.Submit({"--workdir", work_.string(), "--", "/bin/sh", "-c",
                                "for i in 1 2 3 4 5; do echo line-$i; sleep 0.4; done"});
  ASSERT_GT(id, 0);
  Process follow;
  ASSERT_TRUE(follow.Start(
      {MusterBinary(), "logs", std::to_string(id), "-f", "--coordinator", cluster_.address()},
      cluster_.dir() / "follow.out", cluster_.dir() / "follow.err",
      {{"MUSTER_STATE_DIR", cluster_.state_dir().string()}}));
  // Output arrives while the task runs, not only at the end.
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (ReadFile(cluster_.dir() / "follow.out").find("line-1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  std::string early = ReadFile(cluster_.dir() / "follow.out");
  EXPECT_NE(early.find("line-1"), std::string::npos) << cluster_.LogTails();
  auto code = follow.Wait(20s);
  ASSERT_TRUE(code.has_value()) << "logs -f did not stop after the task ended";
  EXPECT_EQ(*code, 0) << ReadFile(cluster_.dir() / "follow.err");
  EXPECT_EQ(ReadFile(cluster_.dir() / "follow.out"), "line-1\nline-2\nline-3\nline-4\nline-5\n");
  EXPECT_EQ(cluster_.WaitForJob(id, 5s).state(), v1::JOB_STATE_SUCCEEDED);
}

// Tasks one after another reuse their cgroups (made in them by the task keeper where the kernel
// allows it). One that leaves a process behind has its cgroup killed, and a killed v2 cgroup
// would kill every task later made in it: the ones after it must still run, in their cgroups.
TEST_F(ClusterJobs, TasksAfterOneWhoseCgroupWasKilledStillRun) {
  const std::string show = "cat /proc/self/cgroup > /dev/null";
  for (const std::string& script :
       {show, show, "setsid sleep 300 > /dev/null 2>&1 < /dev/null & " + show, show, show, show,
        show, show}) {  // one at a time, so that each can reuse the cgroup of the one before
    const int64_t id =
        cluster_.Submit({"--workdir", work_.string(), "--", "/bin/sh", "-c", script});
    ASSERT_GT(id, 0);
    v1::JobInfo job = cluster_.WaitForJob(id, 30s);
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << "job " << id << ": " << job.reason()
                                                     << cluster_.LogTails();
  }
}

TEST_F(ClusterJobs, NodesAndScheduleTables) {
  CommandResult nodes = cluster_.Muster({"nodes", "-o", "json"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  auto list = nlohmann::json::parse(nodes.out);
  ASSERT_EQ(list.size(), 2u);
  std::set<std::string> names;
  for (const auto& n : list) {
    names.insert(n["name"].get<std::string>());
    EXPECT_EQ(n["state"], "ready");
    ASSERT_EQ(n["gpus"].size(), 2u);
    EXPECT_TRUE(n["gpus"][0]["virtual"].get<bool>());
  }
  EXPECT_EQ(names, (std::set<std::string>{"node-0", "node-1"}));
  CommandResult table = cluster_.Muster({"nodes"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("virtual"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("2/2 free"), std::string::npos) << table.out;

  // A job that holds all four GPUs and a second one that must wait: both are in the schedule.
  int64_t a =
      cluster_.Submit({"--tasks", "4", "--gpus", "1", "--est-time", "30s", "--", "sleep", "30"});
  int64_t b = cluster_.Submit({"--gpus", "1", "--est-time", "10s", "--", "true"});
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  // Poll the schedule until the 4 ranks run (launching takes a moment).
  auto deadline = std::chrono::steady_clock::now() + 15s;
  CommandResult rows;
  nlohmann::json r;
  int running = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    rows = cluster_.Muster({"schedule", "-o", "json"});
    ASSERT_EQ(rows.exit_code, 0) << rows.err;
    r = nlohmann::json::parse(rows.out);
    running = 0;
    for (const auto& row : r) running += row["state"] == "running";
    if (running == 4) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(running, 4) << rows.out;
  ASSERT_EQ(r.size(), 5u) << rows.out;
  int64_t a_started = 0, b_predicted_start = 0;
  for (const auto& row : r) {
    EXPECT_GT(row["predicted_finish_ms"].get<int64_t>(), 0) << row.dump();
    if (row["job_id"] == a) {
      EXPECT_EQ(row["state"], "running");
      a_started = std::max(a_started, row["actual_start_ms"].get<int64_t>());
    } else {
      EXPECT_EQ(row["state"], "pending");
      b_predicted_start = row["predicted_start_ms"].get<int64_t>();
    }
  }
  // The waiting job is predicted to start when the 30 s gang is predicted to end, not now.
  EXPECT_GE(b_predicted_start, a_started + 25000) << rows.out;
  CommandResult text = cluster_.Muster({"schedule"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("PRED START"), std::string::npos) << text.out;
  CommandResult q = cluster_.Muster({"queue"});
  EXPECT_EQ(q.exit_code, 0);
  EXPECT_NE(q.out.find("4: 4 run"), std::string::npos) << q.out;
  EXPECT_EQ(cluster_.Muster({"cancel", std::to_string(a), std::to_string(b)}).exit_code, 0);
}

}  // namespace
}  // namespace muster::testing
