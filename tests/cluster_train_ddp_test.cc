// Integration: an unmodified PyTorch DDP script through the cluster. A real coordinator and two
// agents (tests/helpers/cluster_harness.h, loopback, ephemeral ports, a temporary directory) run
// examples/ddp_fashion_mnist.py as a 2-rank gang, one rank per agent, with nothing but the
// torchrun variables muster sets (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...).
// `muster submit --wait` must exit 0 after showing rank 0's progress; both tasks must have
// succeeded on different nodes; rank 0's log (served by the coordinator) must hold the steps and
// a test accuracy computed over world_size=2 — an all-reduce that cannot finish without rank 1.
//
// Skipped when Debian's /usr/bin/python3 has no torch with gloo, or Fashion-MNIST is missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

const char* kDataset = "/usr/share/datasets/fashion-mnist";
const char* kPython = "/usr/bin/python3";

bool PythonHasTorchWithGloo() {
  const std::string cmd = std::string(kPython) +
                          " -c 'import torch, numpy, torch.distributed as d; "
                          "assert d.is_gloo_available()' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// `muster logs REF` until its stdout contains `needle` (logs arrive in batches) or 15 s pass.
CommandResult LogsContaining(TestCluster& c, const std::string& ref, const std::string& needle) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  CommandResult r;
  do {
    r = c.Muster({"logs", ref});
    if (r.exit_code == 0 && r.out.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

TEST(ClusterTrainDdp, UnmodifiedPytorchDdpRunsAsATwoRankGangAcrossTwoAgents) {
  if (!fs::exists(fs::path(kDataset) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kDataset;
  if (!PythonHasTorchWithGloo()) GTEST_SKIP() << kPython << " has no torch with gloo";

  ClusterOptions options;
  options.gpus_per_agent = 1;  // 2 agents
  TestCluster cluster(options);
  ASSERT_EQ(cluster.Start(), "");
  const fs::path work = cluster.dir() / "work";
  fs::create_directories(work);

  const auto started = std::chrono::steady_clock::now();
  // A command line reads best packed.
  // clang-format off
  CommandResult r = cluster.Muster(
      {"submit", "--wait", "--name", "ddp", "--tasks", "2", "--ranks-per-node", "1", "--cpus", "1",
       "--mem", "1G", "--workdir", work.string(), "--", kPython,
       MUSTER_SOURCE_DIR "/examples/ddp_fashion_mnist.py", "--data", kDataset, "--max-steps", "10",
       "--batch-size", "32", "--limit-test", "1000"},
      300s);
  // clang-format on
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_FALSE(r.timed_out) << r.out << cluster.LogTails();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << cluster.LogTails();
  std::printf("submit --wait took %.1f s; its output:\n%s", seconds, r.out.c_str());
  // --wait followed the job and showed rank 0's progress bar at its last step.
  EXPECT_NE(r.out.find("10/10"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("submitted job (\\d+)"))) << r.out;
  const std::string id = m[1];

  v1::JobInfo job = cluster.WaitForJob(std::stoll(id), 10s);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason();
  EXPECT_TRUE(job.spec().gang());
  ASSERT_EQ(job.tasks_size(), 2);
  for (const auto& t : job.tasks()) {
    EXPECT_EQ(t.state(), v1::TASK_STATE_SUCCEEDED) << "task " << t.index();
    EXPECT_EQ(t.exit_code(), 0) << "task " << t.index();
    EXPECT_GT(t.start_ms(), 0) << "task " << t.index() << " never started";
  }
  EXPECT_NE(job.tasks(0).node(), job.tasks(1).node()) << "--ranks-per-node 1 must spread the ranks";

  // Rank 0 printed every 10th step and the final evaluation, summed over both ranks.
  CommandResult logs0 = LogsContaining(cluster, id + ".0", "done: steps=10");
  EXPECT_EQ(logs0.exit_code, 0) << logs0.err;
  EXPECT_TRUE(std::regex_search(
      logs0.out,
      std::regex("(^|\n)MUSTER_PROGRESS done=10 total=10 epoch=1 loss=[0-9.]+ samples_per_s=")))
      << logs0.out;
  EXPECT_TRUE(
      std::regex_search(logs0.out, std::regex("(^|\n)done: steps=10 world_size=2 test_loss=[0-9.]+ "
                                              "test_accuracy=0\\.[0-9]+\n")))
      << logs0.out;
  // Rank 1 ran the same script (its log exists and is served) but does not report progress.
  CommandResult logs1 = cluster.Muster({"logs", id + ".1"});
  EXPECT_EQ(logs1.exit_code, 0) << logs1.err;
  EXPECT_EQ(logs1.out.find("MUSTER_PROGRESS"), std::string::npos) << logs1.out;
}

}  // namespace
}  // namespace muster::testing
