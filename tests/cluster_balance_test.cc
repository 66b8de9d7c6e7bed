// Integration: the live load balancer with real processes. A coordinator with --balancer on, a
// 1 s period and the spread scorer, two agents with 2 virtual GPUs each; one checkpointable
// 1-GPU job on each node (a shell script that counts steps, writes its step to
// $MUSTER_CHECKPOINT_DIR/step on SIGTERM and resumes from it), then a 2-GPU job that fits on no
// node although 2 GPUs are free in total. The balancer must migrate one job (Kill with grace,
// checkpoint, requeue pinned to the other node without a retry), the 2-GPU job must start on the
// freed node, the migrated job must resume from its checkpoint (not step 0), and all three must
// succeed. Prints lambda and Jain before and after and the time until the 2-GPU job started; also
// checks `muster balance -o json`, `muster top --once`, `muster show` and GET /metrics.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <httplib.h>

#include <fstream>
#include <sstream>
#include <cstring>
#include <regex>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

constexpr int kSteps = 100;  // 0.1 s each

const char* kScript = R"(dir="$MUSTER_CHECKPOINT_DIR"
step=0
if [ -f "$dir/step" ]; then step=$(cat "$dir/step"); fi
echo "$MUSTER_ATTEMPT $step" >> "$dir/starts"
echo "start attempt=$MUSTER_ATTEMPT step=$step"
trap 'echo $step > "$dir/step"; echo "checkpoint step=$step"; exit 143' TERM
while [ "$step" -lt "$1" ]; do
  sleep 0.1 & wait $!
  step=$((step + 1))
  echo "MUSTER_PROGRESS done=$step total=$1"
done
echo "$step" > "$dir/final"
echo "done step=$step"
)";

nlohmann::json Balance(TestCluster& cluster) {
  CommandResult r = cluster.Muster({"balance", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

double Num(const nlohmann::json& j, const char* obj, const char* key) {
  if (!j.contains(obj) || !j[obj].contains(key)) return -1;
  return j[obj][key].get<double>();
}

// Waits for an evaluation made after `after_ms` (coordinator clock) and returns it.
nlohmann::json FreshBalance(TestCluster& cluster, int64_t after_ms) {
  auto deadline = std::chrono::steady_clock::now() + 15s;
  nlohmann::json j;
  do {
    j = Balance(cluster);
    if (j.contains("evaluated_ms") && j["evaluated_ms"].get<int64_t>() > after_ms)
      return j;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  ADD_FAILURE() << "no fresh balance evaluation: " << j.dump();
  return j;
}

int64_t NowMs(const nlohmann::json& j) {
  return j["now_ms"].get<int64_t>();
}

bool WaitRunning(TestCluster& cluster, int64_t id, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = cluster.client().GetJob(id);
    if (j.ok() && j->tasks_size() > 0 && j->tasks(0).state() == v1::TASK_STATE_RUNNING) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(ClusterBalance, DefragmentationMigratesACheckpointedJobAndUnblocksTheBigOne) {
  TestCluster cluster(
      ClusterOptions{.agents = 2,
                     .gpus_per_agent = 2,
                     .cpus_per_agent = 8,
                     .coordinator_args = {"--balancer", "on", "--balance-period", "1s", "--scorer",
                                          "spread", "--http", "127.0.0.1:0"}});
  ASSERT_EQ(cluster.Start(), "");
  fs::path work = cluster.dir() / "work";
  fs::create_directories(work);
  { std::ofstream(work / "job.sh") << kScript; }
  std::vector<int64_t> small;
  for (const char* name : {"ckpt-a", "ckpt-b"}) {
    int64_t id = cluster.Submit({"--name", name, "--gpus", "1", "--checkpointable", "--est-time",
                                 "10m", "--workdir", work.string(), "--", "/bin/sh", "job.sh",
                                 std::to_string(kSteps)});
    ASSERT_GT(id, 0);
    ASSERT_TRUE(WaitRunning(cluster, id, 20s)) << cluster.LogTails();
    small.push_back(id);
  }
  std::string node_of[2];
  for (int i = 0; i < 2; ++i) node_of[i] = cluster.client().GetJob(small[i])->tasks(0).node();
  ASSERT_NE(node_of[0], node_of[1]) << "the spread scorer should place one job per node";

  auto before = FreshBalance(cluster, NowMs(Balance(cluster)));
  std::this_thread::sleep_for(1s);  // let both jobs make progress before the checkpoint

  auto submit_time = std::chrono::steady_clock::now();
  int64_t big = cluster.Submit({"--name", "big", "--gpus", "2", "--est-time", "10m", "--workdir",
                                work.string(), "--", "/bin/sh", "-c", "sleep 4; echo big-done"});
  ASSERT_GT(big, 0);
  ASSERT_TRUE(WaitRunning(cluster, big, 40s)) << "the 2-GPU job did not start\n"
                                              << Balance(cluster).dump(2) << cluster.LogTails();
  double waited_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - submit_time).count();
  auto big_info = cluster.client().GetJob(big);
  ASSERT_TRUE(big_info.ok());
  const std::string big_node = big_info->tasks(0).node();
  // An evaluation with the 2-GPU job and both small jobs running.
  auto after = FreshBalance(cluster, NowMs(Balance(cluster)));

  v1::JobInfo done_big = cluster.WaitForJob(big, 60s);
  ASSERT_EQ(done_big.state(), v1::JOB_STATE_SUCCEEDED) << done_big.reason() << cluster.LogTails();
  int migrated = 0;
  for (int i = 0; i < 2; ++i) {
    v1::JobInfo j = cluster.WaitForJob(small[i], 60s);
    ASSERT_EQ(j.state(), v1::JOB_STATE_SUCCEEDED) << j.reason() << cluster.LogTails();
    EXPECT_EQ(j.tasks(0).retries(), 0);
    fs::path ckpt = cluster.state_dir() / "checkpoints" / std::to_string(small[i]);
    EXPECT_EQ(ReadFile(ckpt / "final"), std::to_string(kSteps) + "\n");
    std::istringstream starts(ReadFile(ckpt / "starts"));
    std::vector<std::pair<int, int>> runs;  // (attempt, starting step)
    for (int a, s; starts >> a >> s;) runs.emplace_back(a, s);
    // The job's history beside its predictions (which every job has).
    std::vector<std::string> events;
    for (const auto& h : j.history())
      if (h.rfind("predicted at submit", 0) != 0 && h.rfind("re-predicted at", 0) != 0)
        events.push_back(h);
    if (events.empty()) {
      EXPECT_EQ(runs.size(), 1u);
      continue;
    }
    ++migrated;
    EXPECT_NE(events[0].find("migrated from " + node_of[i] + " to"), std::string::npos)
        << events[0];
    EXPECT_NE(j.tasks(0).node(), node_of[i]);
    EXPECT_EQ(node_of[i], big_node) << "the 2-GPU job runs on the node that was freed";
    ASSERT_EQ(runs.size(), 2u) << ReadFile(ckpt / "starts");
    EXPECT_EQ(runs[0].second, 0);
    EXPECT_GT(runs[1].second, 0) << "the migrated job must resume from its checkpoint";
    EXPECT_GT(runs[1].first, runs[0].first);
    std::cout << "[ migrated ] job " << small[i] << " from " << node_of[i] << " to "
              << j.tasks(0).node() << ", resumed at step " << runs[1].second << " of " << kSteps
              << "\n";
    CommandResult show = cluster.Muster({"show", std::to_string(small[i])});
    EXPECT_NE(show.out.find("migrated from " + node_of[i]), std::string::npos) << show.out;
  }
  EXPECT_EQ(migrated, 1);

  std::cout << "[ balance  ] before: nodes lambda=" << Num(before, "nodes", "imbalance_factor")
            << " jain=" << Num(before, "nodes", "jain")
            << "; gpus lambda=" << Num(before, "gpus", "imbalance_factor")
            << " jain=" << Num(before, "gpus", "jain") << "\n"
            << "[ balance  ] after:  nodes lambda=" << Num(after, "nodes", "imbalance_factor")
            << " jain=" << Num(after, "nodes", "jain")
            << "; gpus lambda=" << Num(after, "gpus", "imbalance_factor")
            << " jain=" << Num(after, "gpus", "jain") << "\n"
            << "[ balance  ] the 2-GPU job started " << waited_s << " s after its submission\n";
  // Half the GPUs were busy before, all of them after.
  EXPECT_NEAR(Num(before, "gpus", "jain"), 0.5, 0.2);
  EXPECT_GT(Num(after, "gpus", "jain"), Num(before, "gpus", "jain"));

  auto final_balance = Balance(cluster);
  bool applied = false;
  for (const auto& m : final_balance["recent_moves"])
    applied = applied || (m["kind"] == "migrate" && m["outcome"] == "applied");
  EXPECT_TRUE(applied) << final_balance.dump(2);

  CommandResult top = cluster.Muster({"top", "--once"});
  EXPECT_EQ(top.exit_code, 0) << top.err;
  EXPECT_NE(top.out.find("node-0"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("jain"), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("\033["), std::string::npos) << "--once prints no escape codes";

  const std::string http = cluster.HttpUrl();
  ASSERT_FALSE(http.empty());
  ASSERT_EQ(http.rfind("https://", 0), 0u) << http;  // TLS with the cluster's certificate
  httplib::Client hc(http);
  hc.set_ca_cert_path((cluster.state_dir() / "tls" / "ca.crt").c_str());
  hc.enable_server_certificate_verification(true);
  auto res = hc.Get("/metrics");
  ASSERT_TRUE(res) << "GET /metrics failed";
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("muster_jain_index "), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("muster_node_load{node=\"node-1\"}"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("muster_queue_length "), std::string::npos);
  EXPECT_NE(res->body.find("muster_balance_moves_total{outcome=\"applied\"}"), std::string::npos);
  // Jobs, tasks and pending tasks by label, node readiness, and the latency histograms.
  for (const char* series :
       {"muster_jobs{state=\"succeeded\"} ", "muster_jobs{state=\"oom\"} 0", "muster_tasks{state=\"active\"} ",
        "muster_node_ready{node=\"node-0\",state=\"ready\"} 1",
        "muster_scheduling_pass_seconds_bucket{le=\"+Inf\"} ", "muster_submit_seconds_count ",
        "muster_store_commit_seconds_sum ", "# TYPE muster_submit_seconds histogram"})
    EXPECT_NE(res->body.find(series), std::string::npos) << series << "\n" << res->body;
  // The Grafana dashboard in examples/ asks only for metrics that are served.
  const nlohmann::json dash =
      nlohmann::json::parse(ReadFile(fs::path(MUSTER_SOURCE_DIR) / "examples/grafana-muster.json"));
  int asked = 0;
  for (const auto& panel : dash["panels"])
    for (const auto& target : panel["targets"]) {
      const std::string expr = target["expr"];
      static const std::regex name("muster_[a-z_]+");
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name);
           it != std::sregex_iterator(); ++it) {
        std::string m = it->str();
        for (const char* suffix : {"_bucket", "_count", "_sum"})
          if (m.size() > strlen(suffix) && m.ends_with(suffix) &&
              res->body.find("# TYPE " + m.substr(0, m.size() - strlen(suffix)) + " histogram") !=
                  std::string::npos)
            m = m.substr(0, m.size() - strlen(suffix));
        ++asked;
        EXPECT_NE(res->body.find("# TYPE " + m + " "), std::string::npos) << m;
      }
    }
  EXPECT_GE(asked, 12);
  // Every sample line is NAME[{LABELS}] NUMBER, as Prometheus reads it.
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    size_t used = 0;
    (void)std::stod(line.substr(space + 1), &used);
    EXPECT_EQ(used, line.size() - space - 1) << line;
    EXPECT_EQ(line.find("muster_"), 0u) << line;
  }
}

}  // namespace
}  // namespace muster::testing
