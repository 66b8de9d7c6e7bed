// muster-train: data-parallel training of the Fashion-MNIST CNN (see trainer.h).
//
// Reads torchrun's RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT (alone when unset), the
// dataset from --data (MNIST-format files, gzip or raw), resumes from the newest checkpoint in
// --checkpoint-dir (default $MUSTER_CHECKPOINT_DIR), and with MUSTER_CHECKPOINTABLE=1 or
// --checkpoint-on-term turns SIGTERM into "checkpoint after the current step, then exit 143".
// Exit codes: 0 done, 1 training failed, 2 bad usage or bad dataset, 3 rendezvous/peer failure,
// 143 stopped by SIGTERM after checkpointing.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "train/dist_env.h"
#include "train/mnist.h"
#include "train/trainer.h"

namespace {

std::atomic<bool> g_stop{false};

void OnTerm(int) {
  g_stop.store(true);
}

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? v : fallback;
}

int ExitFor(const muster::Status& s) {
  switch (s.code()) {
    case muster::StatusCode::kInvalidArgument:
    case muster::StatusCode::kNotFound:
      return 2;
    case muster::StatusCode::kUnavailable:
      return 3;
    default:
      return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // libgomp (libtorch's OpenMP) reads OMP_WAIT_POLICY when it is loaded, before main. Its default
  // spin-waiting collapses when cores are shared (measured on 2 busy cores: 83-172 samples/s with
  // 2 threads spinning vs 555 passive), so unless the user chose a policy, run again with PASSIVE.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);  // on failure, carry on with the default policy
  }
  using namespace muster::train;
  CLI::App app{
      "muster-train: data-parallel training of the Fashion-MNIST CNN (libtorch, c10d/gloo).\n"
      "Distributed when RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT are set (torchrun's names)."};
  TrainOptions opt;
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t limit_train = 0, limit_test = 0;
  bool no_dropout = false, checkpoint_on_term = false;
  opt.checkpoint_dir = EnvOr("MUSTER_CHECKPOINT_DIR", "");
  opt.attempt = std::atoll(EnvOr("MUSTER_ATTEMPT", "0"));
  app.add_option("--data", data, "directory of MNIST-format files (gzip or raw)")
      ->capture_default_str();
  app.add_option("--epochs", opt.epochs, "epochs")->capture_default_str();
  app.add_option("--batch-size", opt.batch_size, "samples per rank per step")
      ->capture_default_str();
  double lr = 0;
  app.add_option("--optimizer", opt.optimizer, "adam, or sgd (momentum 0.9)")
      ->capture_default_str();
  app.add_option("--lr", lr, "learning rate (default 1e-3 for adam, 0.01 for sgd)");
  app.add_option("--seed", opt.seed, "seed for weights, data order and dropout")
      ->capture_default_str();
  app.add_option("--out", opt.out_dir, "directory for model.pt and report.json (rank 0)");
  app.add_option(
      "--checkpoint-dir", opt.checkpoint_dir,
      "checkpoint directory, resumed from when it holds one (default $MUSTER_CHECKPOINT_DIR)");
  app.add_flag(
      "--checkpoint-on-term", checkpoint_on_term,
      "on SIGTERM, checkpoint after the current step and exit 143 (also MUSTER_CHECKPOINTABLE=1)");
  app.add_option("--max-steps", opt.max_steps, "stop after this many global steps (0: no limit)");
  app.add_flag("--no-dropout", no_dropout, "disable dropout");
  app.add_option("--limit-train", limit_train, "use only the first N training samples");
  app.add_option("--limit-test", limit_test, "use only the first N test samples");
  app.add_option("--threads", opt.threads,
                 "intra-op threads (default: cores / ranks on this node)");
  app.add_option("--bucket-mb", opt.bucket_mb, "gradient all-reduce bucket size in MiB")
      ->capture_default_str();
  app.add_option("--progress-every", opt.progress_every, "steps between progress lines")
      ->capture_default_str();
  int timeout_s = 300;
  app.add_option("--timeout", timeout_s, "seconds to wait for peers (rendezvous and collectives)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  opt.dropout = !no_dropout;
  opt.lr = app.count("--lr") > 0 ? lr : (opt.optimizer == "sgd" ? 0.01 : 1e-3);
  opt.timeout = std::chrono::seconds(timeout_s);

  auto env = DistEnvFromProcess();
  if (!env.ok()) {
    std::cerr << "muster-train: " << env.status().message() << "\n";
    return 2;
  }
  if (opt.threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    opt.threads = std::max(1, cores / std::max(1, env->local_world_size));
  }
  const bool checkpointable =
      checkpoint_on_term || std::string(EnvOr("MUSTER_CHECKPOINTABLE", "")) == "1";
  if (checkpointable) {
    if (opt.checkpoint_dir.empty()) {
      std::cerr << "muster-train: checkpoint on SIGTERM needs --checkpoint-dir or "
                   "MUSTER_CHECKPOINT_DIR\n";
      return 2;
    }
    std::signal(SIGTERM, OnTerm);
    opt.stop_requested = &g_stop;
  }

  auto train = LoadMnistSplit(data, "train");
  if (!train.ok()) {
    std::cerr << "muster-train: " << train.status().message() << "\n";
    return 2;
  }
  auto test = LoadMnistSplit(data, "t10k");
  if (!test.ok()) {
    std::cerr << "muster-train: " << test.status().message() << "\n";
    return 2;
  }
  TruncateSet(*train, limit_train);
  TruncateSet(*test, limit_test);
  if (env->rank == 0) {
    std::cout << "muster-train: " << train->count << " training and " << test->count
              << " test samples, world size " << env->world_size << ", batch " << opt.batch_size
              << " per rank, " << opt.threads << " threads" << std::endl;
  }
  auto report = Train(opt, *train, *test, *env);
  if (!report.ok()) {
    std::cerr << "muster-train: rank " << env->rank << ": " << report.status().message() << "\n";
    return ExitFor(report.status());
  }
  return report->interrupted ? 143 : 0;
}
