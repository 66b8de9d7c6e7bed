// Data-parallel training of the Fashion-MNIST CNN (net.h). No libtorch in this header, so the
// command-line front end, tests and benchmarks that only drive training compile quickly.
//
// Algorithm per global step g (identical on every rank): take this rank's shard of the epoch's
// permutation (sampler.h), forward/backward, average the gradients over the ranks with bucketed
// all-reduce (collective.h), optimizer step (Adam, or SGD with momentum). Initial weights come from
// rank 0 (broadcast), or from the newest checkpoint, which rank 0 reads and broadcasts as bytes so
// that ranks need no shared disk. Dropout masks are seeded from (seed, rank, g): a resumed run
// draws what an uninterrupted one would. At each epoch end the ranks evaluate disjoint slices of
// the test set and sum the counts; rank 0 writes a checkpoint (model, optimizer state, step, epoch,
// seed, history) at every epoch end, at the last step, and when a stop is requested (by any rank:
// the vote rides along the gradient all-reduce, so all ranks stop after the same step).
//
// Output (rank 0 only): `MUSTER_PROGRESS done=<step> total=<steps> epoch=<1-based>
// loss=<mean loss over ranks> samples_per_s=<global samples/s>` every `progress_every` steps on
// `log`, then one human-readable line per epoch and a summary.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/status.h"
#include "train/dist_env.h"
#include "train/mnist.h"

namespace muster::train {

struct TrainOptions {
  int epochs = 5;
  int64_t batch_size = 64;         // per rank
  std::string optimizer = "adam";  // "adam" or "sgd" (momentum 0.9)
  double lr = 1e-3;
  uint64_t seed = 1;
  bool dropout = true;
  int64_t max_steps = 0;   // stop after this many global steps (0: no limit)
  int threads = 0;         // intra-op threads (0: leave libtorch's setting)
  double bucket_mb = 1.0;  // gradient all-reduce bucket size
  int64_t progress_every = 10;
  bool evaluate = true;        // evaluate on the test set at epoch ends and at the end
  std::string checkpoint_dir;  // empty: no checkpoints, no resume
  int64_t attempt = 0;         // names this run's checkpoints (MUSTER_ATTEMPT; 0 = none)
  std::string out_dir;         // rank 0 writes model.pt and report.json here (empty: nothing)
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // rendezvous and collectives
  const std::atomic<bool>* stop_requested =
      nullptr;                  // set (e.g. by SIGTERM) to checkpoint and stop
  bool keep_params = false;     // copy the final weights into TrainReport::params
  std::ostream* log = nullptr;  // progress and summary (rank 0); nullptr: std::cout
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double test_loss = 0;
  double test_accuracy = 0;  // fraction in [0, 1]
  double seconds = 0;        // training time of this epoch in this run (excludes evaluation)
  double samples_per_s = 0;  // global samples per second
};

struct TrainReport {
  int world_size = 1;
  std::string backend;
  int64_t batch_size = 0;  // per rank
  int64_t global_batch = 0;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t start_step = 0;       // > 0 when resumed from a checkpoint
  int64_t steps_done = 0;       // global step reached
  bool interrupted = false;     // stopped early on request (checkpoint written when enabled)
  std::string checkpoint_path;  // last checkpoint written, if any
  std::vector<EpochRecord> epochs;
  double final_test_loss = 0;
  double final_test_accuracy = 0;
  double train_seconds = 0;      // this run's training time (excludes evaluation)
  double samples_per_s = 0;      // global samples/s over this run
  double allreduce_seconds = 0;  // time in gradient averaging over this run
  int64_t buckets = 0;
  std::vector<float> params;  // final weights, flattened, when keep_params
};

// Trains as rank env.rank of env.world_size. Errors: InvalidArgument for bad options or a
// checkpoint from an incompatible run, Unavailable when the process group fails.
Result<TrainReport> Train(const TrainOptions& options, const MnistSet& train_set,
                          const MnistSet& test_set, const DistEnv& env);

// The report as JSON (report.cc).
std::string ReportToJson(const TrainReport& report);
// Epoch history <-> JSON, used to carry the curve across restarts inside checkpoints.
std::string EpochsToJson(const std::vector<EpochRecord>& epochs);
Result<std::vector<EpochRecord>> EpochsFromJson(const std::string& json);

}  // namespace muster::train
