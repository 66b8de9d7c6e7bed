// Integration: checkpoint → cancel → resubmit → resume, through the cluster. A real coordinator and
// two agents (tests/helpers/cluster_harness.h) run a checkpointable 2-rank muster-train gang, one
// rank per agent. Once rank 0's progress (as stored by the coordinator) passes step 10 of 60,
// `muster cancel` stops the job: the agents send SIGTERM, muster-train (MUSTER_CHECKPOINTABLE=1)
// finishes the step, rank 0 writes a checkpoint into the explicit --checkpoint-dir and both ranks
// exit 143. The same command submitted again is a new job (a new id, so the default
// $MUSTER_CHECKPOINT_DIR would be a new, empty directory — hence the explicit one); it resumes
// at the saved step, not 0, and ends with exactly the test loss and accuracy of an uninterrupted
// run of the same command (with its own checkpoint directory), which runs beside the first job.
// Deterministic training needs a fixed thread count: --threads 1.
//
// Skipped when Fashion-MNIST is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

const char* kDataset = "/usr/share/datasets/fashion-mnist";

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

// The submit arguments of the training gang: 960 samples / (2 ranks x 16) = 30 steps per epoch,
// 2 epochs = 60 steps.
std::vector<std::string> TrainJob(const fs::path& work, const fs::path& ckpt, const fs::path& out) {
  // A command line reads best packed.
  // clang-format off
  return {"--name", "train", "--tasks", "2", "--ranks-per-node", "1", "--cpus", "1", "--mem", "1G",
          "--checkpointable", "--workdir", work.string(), "--", MUSTER_TRAIN_BIN, "--data",
          kDataset, "--limit-train", "960", "--limit-test", "500", "--batch-size", "16",
          "--epochs", "2", "--threads", "1", "--progress-every", "2", "--checkpoint-dir",
          ckpt.string(), "--out", out.string()};
  // clang-format on
}

nlohmann::json Report(const fs::path& out) {
  std::ifstream in(out / "report.json");
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

TEST(ClusterTrainResume, CancelledCheckpointableGangResumesFromItsCheckpointWhenResubmitted) {
  if (!fs::exists(fs::path(kDataset) / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed at " << kDataset;
  ClusterOptions options;
  options.gpus_per_agent = 1;  // 2 agents
  TestCluster cluster(options);
  ASSERT_EQ(cluster.Start(), "");
  const fs::path work = cluster.dir() / "work", ckpt = cluster.dir() / "ckpt",
                 out = cluster.dir() / "out", ref_ckpt = cluster.dir() / "ckpt-ref",
                 ref_out = cluster.dir() / "out-ref";
  fs::create_directories(work);
  const auto t0 = std::chrono::steady_clock::now();

  // The job to interrupt, and the uninterrupted reference beside it.
  const int64_t id = cluster.Submit(TrainJob(work, ckpt, out));
  const int64_t ref = cluster.Submit(TrainJob(work, ref_ckpt, ref_out));
  ASSERT_GT(id, 0);
  ASSERT_GT(ref, 0);

  // Wait until rank 0's progress passes step 10, then cancel.
  double done = 0;
  std::string state;
  const auto deadline = std::chrono::steady_clock::now() + 180s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = cluster.client().GetJob(id);
    if (j.ok()) {
      state = StateName(j->state());
      if (j->tasks_size() > 0) done = j->tasks(0).progress().done();
      if (done >= 10 || state == "succeeded" || state == "failed" || state == "cancelled") break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(done, 10) << "state " << state << cluster.LogTails();
  ASSERT_LT(done, 60) << "finished before it could be cancelled";
  const double cancel_at_s = Seconds(t0);
  CommandResult c = cluster.Muster({"cancel", std::to_string(id)});
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  v1::JobInfo cancelled = cluster.WaitForJob(id, 60s);
  ASSERT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED) << cancelled.reason() << cluster.LogTails();
  // The job is cancelled at once; its ranks end when the agents report their exits.
  const auto end_deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < end_deadline &&
         std::any_of(cancelled.tasks().begin(), cancelled.tasks().end(),
                     [](const v1::TaskInfo& t) { return t.state() != v1::TASK_STATE_CANCELLED; })) {
    std::this_thread::sleep_for(50ms);
    if (auto j = cluster.client().GetJob(id); j.ok()) cancelled = *j;
  }
  ASSERT_EQ(cancelled.tasks_size(), 2);
  for (const auto& t : cancelled.tasks()) {
    EXPECT_EQ(t.state(), v1::TASK_STATE_CANCELLED) << "task " << t.index();
    EXPECT_EQ(t.exit_code(), 143) << "task " << t.index()
                                  << " did not stop with a checkpoint: " << t.message();
  }

  // Rank 0 said where it stopped, and the checkpoint of that step is in the explicit directory.
  CommandResult first = LogsContaining(cluster, std::to_string(id) + ".0", "stopped on request");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(first.out, m, std::regex("stopped on request at step (\\d+)")))
      << first.out << cluster.LogTails();
  const int stopped_at = std::stoi(m[1]);
  EXPECT_GE(stopped_at, 10);
  EXPECT_LT(stopped_at, 60);
  char name[48];  // attempt 1 of the job wrote it under its own name
  std::snprintf(name, sizeof name, "ckpt-a000001-%012d.pt", stopped_at);
  ASSERT_TRUE(fs::exists(ckpt / name)) << (ckpt / name) << " missing";

  // The same command again: a new job that continues from the checkpoint.
  const int64_t again = cluster.Submit(TrainJob(work, ckpt, out));
  ASSERT_GT(again, 0);
  EXPECT_NE(again, id);
  v1::JobInfo resumed = cluster.WaitForJob(again, 240s);
  ASSERT_EQ(resumed.state(), v1::JOB_STATE_SUCCEEDED) << resumed.reason() << cluster.LogTails();
  const double resumed_at_s = Seconds(t0);
  CommandResult second = LogsContaining(cluster, std::to_string(again) + ".0", "done: ");
  EXPECT_NE(second.out.find("at step " + std::to_string(stopped_at)), std::string::npos)
      << second.out;
  ASSERT_TRUE(std::regex_search(second.out, m, std::regex("MUSTER_PROGRESS done=(\\d+) ")))
      << second.out;
  EXPECT_GT(std::stoi(m[1]), stopped_at) << "progress restarted from 0:\n" << second.out;

  v1::JobInfo reference = cluster.WaitForJob(ref, 240s);
  ASSERT_EQ(reference.state(), v1::JOB_STATE_SUCCEEDED) << reference.reason() << cluster.LogTails();
  const nlohmann::json r = Report(out), rr = Report(ref_out);
  ASSERT_TRUE(r.is_object()) << "no report.json in " << out;
  ASSERT_TRUE(rr.is_object()) << "no report.json in " << ref_out;
  EXPECT_EQ(r["start_step"], stopped_at);
  EXPECT_EQ(r["steps_done"], 60);
  EXPECT_EQ(rr["start_step"], 0);
  ASSERT_EQ(r["epochs"].size(), 2u);  // the curve survives the restart
  EXPECT_NEAR(r["final_test_loss"].get<double>(), rr["final_test_loss"].get<double>(), 1e-6);
  EXPECT_EQ(r["final_test_accuracy"].get<double>(), rr["final_test_accuracy"].get<double>());
  std::printf(
      "cancelled job %lld at progress %.0f/60 after %.1f s; checkpoint at step %d; resubmitted "
      "job %lld succeeded after %.1f s, reference job %lld after %.1f s; test accuracy %.4f "
      "(reference %.4f), test loss %.6f (reference %.6f)\n",
      static_cast<long long>(id), done, cancel_at_s, stopped_at, static_cast<long long>(again),
      resumed_at_s, static_cast<long long>(ref), Seconds(t0),
      r["final_test_accuracy"].get<double>(), rr["final_test_accuracy"].get<double>(),
      r["final_test_loss"].get<double>(), rr["final_test_loss"].get<double>());
}

}  // namespace
}  // namespace muster::testing
