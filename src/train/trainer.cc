// The training loop (see trainer.h for the algorithm and the output contract).
#include "train/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "train/checkpoint_file.h"
#include "train/collective.h"
#include "train/net.h"
#include "train/sampler.h"

namespace muster::train {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Normalised images [N, 1, rows, cols] and int64 labels [N].
struct TensorSet {
  torch::Tensor images;
  torch::Tensor labels;
};

TensorSet ToTensors(const MnistSet& set, const PixelStats& stats) {
  TensorSet t;
  auto u8 = torch::from_blob(const_cast<uint8_t*>(set.pixels.data()),
                             {set.count, 1, set.rows, set.cols}, torch::kUInt8);
  t.images = ((u8.to(torch::kFloat32) / 255.0f) - static_cast<float>(stats.mean)) /
             static_cast<float>(stats.stddev);
  t.labels = torch::from_blob(const_cast<uint8_t*>(set.labels.data()), {set.count}, torch::kUInt8)
                 .to(torch::kInt64);
  return t;
}

struct Checkpoint {
  int64_t step = 0;
  uint64_t seed = 0;
  int64_t global_batch = 0;
  int64_t steps_per_epoch = 0;
  std::string optimizer;
  std::vector<EpochRecord> history;
};

std::string Serialize(const Checkpoint& c, FashionCnn& model, torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive ar;
  ar.write("step", torch::tensor({c.step}, torch::kInt64));
  ar.write("seed", torch::tensor({static_cast<int64_t>(c.seed)}, torch::kInt64));
  ar.write("global_batch", torch::tensor({c.global_batch}, torch::kInt64));
  ar.write("steps_per_epoch", torch::tensor({c.steps_per_epoch}, torch::kInt64));
  ar.write("history", c10::IValue(EpochsToJson(c.history)));
  ar.write("optimizer_name", c10::IValue(c.optimizer));
  torch::serialize::OutputArchive m;
  model->save(m);
  ar.write("model", m);
  torch::serialize::OutputArchive o;
  opt.save(o);
  ar.write("optimizer", o);
  std::ostringstream os;
  ar.save_to(os);
  return os.str();
}

Result<Checkpoint> Restore(const std::string& bytes, FashionCnn& model,
                           torch::optim::Optimizer& opt, const std::string& optimizer,
                           torch::Device device) {
  Checkpoint c;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(bytes.data(), bytes.size(), device);  // tensors land where the model lives
    torch::Tensor t;
    ar.read("step", t);
    c.step = t.item<int64_t>();
    ar.read("seed", t);
    c.seed = static_cast<uint64_t>(t.item<int64_t>());
    ar.read("global_batch", t);
    c.global_batch = t.item<int64_t>();
    ar.read("steps_per_epoch", t);
    c.steps_per_epoch = t.item<int64_t>();
    c10::IValue h;
    ar.read("history", h);
    auto hist = EpochsFromJson(h.toStringRef());
    if (!hist.ok()) return hist.status();
    c.history = std::move(*hist);
    c10::IValue name;
    ar.read("optimizer_name", name);
    c.optimizer = name.toStringRef();
    if (c.optimizer != optimizer) {
      return Status::InvalidArgument("it was written with --optimizer " + c.optimizer +
                                     ", this run uses " + optimizer);
    }
    torch::serialize::InputArchive m;
    ar.read("model", m);
    model->load(m);
    torch::serialize::InputArchive o;
    ar.read("optimizer", o);
    opt.load(o);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    return Status::InvalidArgument("unreadable checkpoint: " + msg);
  }
  return c;
}

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
};

// Each rank scores test samples i with i % world == rank; the sums are all-reduced.
EvalResult Evaluate(FashionCnn& model, const TensorSet& test, Collective& coll) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = test.images.size(0);
  auto idx = torch::arange(coll.rank(), n, coll.world(),
                           torch::TensorOptions(torch::kInt64).device(coll.device()));
  double loss_sum = 0, correct = 0;
  const int64_t chunk = 1000;
  for (int64_t s = 0; s < idx.size(0); s += chunk) {
    auto part = idx.narrow(0, s, std::min(chunk, idx.size(0) - s));
    auto out = model->forward(test.images.index_select(0, part));
    auto y = test.labels.index_select(0, part);
    loss_sum += torch::nll_loss(out, y, {}, at::Reduction::Sum).item<double>();
    correct += out.argmax(1).eq(y).sum().item<double>();
  }
  auto sums = torch::tensor({loss_sum, correct}, torch::kFloat64).to(coll.device());
  coll.AllReduceSum(sums);
  model->train();
  return {sums[0].item<double>() / std::max<int64_t>(n, 1),
          sums[1].item<double>() / std::max<int64_t>(n, 1)};
}

Status Validate(const TrainOptions& o, const MnistSet& train, const MnistSet& test,
                const DistEnv& env) {
  if (o.epochs < 1) return Status::InvalidArgument("--epochs must be at least 1");
  if (o.batch_size < 1) return Status::InvalidArgument("--batch-size must be at least 1");
  if (!(o.lr > 0)) return Status::InvalidArgument("--lr must be positive");
  if (o.max_steps < 0) return Status::InvalidArgument("--max-steps must not be negative");
  if (o.optimizer != "adam" && o.optimizer != "sgd") {
    return Status::InvalidArgument("--optimizer must be adam or sgd, not " + o.optimizer);
  }
  if (o.progress_every < 1) return Status::InvalidArgument("--progress-every must be at least 1");
  if (!(o.bucket_mb > 0)) return Status::InvalidArgument("--bucket-mb must be positive");
  if (train.rows != 28 || train.cols != 28 ||
      (test.count > 0 && (test.rows != 28 || test.cols != 28))) {
    return Status::InvalidArgument("the CNN expects 28x28 images, the dataset has " +
                                   std::to_string(train.rows) + "x" + std::to_string(train.cols));
  }
  if (train.count < env.world_size * o.batch_size) {
    return Status::InvalidArgument("the training set has " + std::to_string(train.count) +
                                   " samples, fewer than one global batch (" +
                                   std::to_string(env.world_size) + " ranks x " +
                                   std::to_string(o.batch_size) + ")");
  }
  if (!o.checkpoint_dir.empty() && o.checkpoint_dir == o.out_dir) {
    return Status::InvalidArgument("--checkpoint-dir and --out must differ");
  }
  return Status::Ok();
}

std::string FormatDouble(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

class Run {
 public:
  Run(const TrainOptions& o, const DistEnv& env, Collective& coll, std::ostream& log)
      : o_(o), env_(env), coll_(coll), log_(log), model_(FashionCnn(o.dropout)) {}

  Result<TrainReport> Go(const MnistSet& train_set, const MnistSet& test_set);

 private:
  bool Leader() const { return env_.rank == 0; }
  Status SaveCheckpoint(int64_t step);
  void Progress(int64_t step, int64_t epoch, double loss, double sps);
  Status WriteOutputs();

  const TrainOptions& o_;
  const DistEnv& env_;
  Collective& coll_;
  std::ostream& log_;
  FashionCnn model_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  TrainReport report_;
};

Status Run::SaveCheckpoint(int64_t step) {
  if (!Leader() || o_.checkpoint_dir.empty()) return Status::Ok();
  Checkpoint c{step,         o_.seed,       report_.global_batch, report_.steps_per_epoch,
               o_.optimizer, report_.epochs};
  auto path =
      WriteCheckpointFile(o_.checkpoint_dir, step, Serialize(c, model_, *opt_), 2, o_.attempt);
  if (!path.ok()) return path.status();
  report_.checkpoint_path = *path;
  return Status::Ok();
}

void Run::Progress(int64_t step, int64_t epoch, double loss, double sps) {
  if (!Leader()) return;
  log_ << "MUSTER_PROGRESS done=" << step << " total=" << report_.total_steps << " epoch=" << epoch
       << " loss=" << FormatDouble("%.4f", loss) << " samples_per_s=" << FormatDouble("%.1f", sps)
       << std::endl;
}

Status Run::WriteOutputs() {
  if (!Leader() || o_.out_dir.empty()) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(o_.out_dir, ec);
  if (ec)
    return Status::Internal("cannot create output directory " + o_.out_dir + ": " + ec.message());
  const std::string model_path = (std::filesystem::path(o_.out_dir) / "model.pt").string();
  try {
    torch::save(model_, model_path);
  } catch (const std::exception& e) {
    return Status::Internal("cannot write " + model_path);
  }
  const std::string report_path = (std::filesystem::path(o_.out_dir) / "report.json").string();
  std::ofstream out(report_path);
  out << ReportToJson(report_) << "\n";
  if (!out) return Status::Internal("cannot write " + report_path);
  return Status::Ok();
}

Result<TrainReport> Run::Go(const MnistSet& train_set, const MnistSet& test_set) {
  const PixelStats stats = ComputePixelStats(train_set);
  // The whole dataset lives where the model does (the GPU under NCCL, ~190 MB for 60k images).
  const torch::Device device = coll_.device();
  TensorSet train = ToTensors(train_set, stats);
  TensorSet test = ToTensors(test_set, stats);
  if (!device.is_cpu()) {
    train = {train.images.to(device), train.labels.to(device)};
    test = {test.images.to(device), test.labels.to(device)};
  }

  report_.world_size = env_.world_size;
  report_.backend = coll_.backend();
  report_.batch_size = o_.batch_size;
  report_.global_batch = o_.batch_size * env_.world_size;
  report_.steps_per_epoch = StepsPerEpoch(train_set.count, env_.world_size, o_.batch_size);
  report_.total_steps = report_.steps_per_epoch * o_.epochs;
  if (o_.max_steps > 0) report_.total_steps = std::min(report_.total_steps, o_.max_steps);

  // Each rank initialises from its own seed; rank 0's weights (or the checkpoint) win below.
  model_->ResetParameters(MixSeed(o_.seed, static_cast<uint64_t>(env_.rank) + 1));
  if (!device.is_cpu()) model_->to(device);
  if (o_.optimizer == "sgd") {
    opt_ = std::make_unique<torch::optim::SGD>(model_->parameters(),
                                               torch::optim::SGDOptions(o_.lr).momentum(0.9));
  } else {
    opt_ = std::make_unique<torch::optim::Adam>(model_->parameters(),
                                                torch::optim::AdamOptions(o_.lr));
  }
  std::vector<torch::Tensor> params = model_->parameters();

  std::string blob;
  std::string blob_path;
  if (Leader() && !o_.checkpoint_dir.empty()) {
    auto latest = ReadLatestCheckpoint(o_.checkpoint_dir);
    if (!latest.ok()) return latest.status();
    if (latest->has_value()) {
      blob = std::move((*latest)->bytes);
      blob_path = (*latest)->path;
    }
  }
  coll_.BroadcastBytes(blob);
  if (!blob.empty()) {
    auto c = Restore(blob, model_, *opt_, o_.optimizer, device);
    if (!c.ok()) return Status::InvalidArgument(blob_path + ": " + c.status().message());
    if (c->global_batch != report_.global_batch || c->steps_per_epoch != report_.steps_per_epoch) {
      return Status::InvalidArgument(
          "checkpoint " + blob_path + " comes from a run with global batch " +
          std::to_string(c->global_batch) + " and " + std::to_string(c->steps_per_epoch) +
          " steps per epoch; this run has " + std::to_string(report_.global_batch) + " and " +
          std::to_string(report_.steps_per_epoch) +
          " (use the same --batch-size x WORLD_SIZE and data, or another --checkpoint-dir)");
    }
    if (c->seed != o_.seed) {
      return Status::InvalidArgument("checkpoint " + blob_path + " was written with --seed " +
                                     std::to_string(c->seed) + ", this run has " +
                                     std::to_string(o_.seed));
    }
    report_.start_step = c->step;
    report_.epochs = std::move(c->history);
    if (Leader()) log_ << "resumed from " << blob_path << " at step " << c->step << std::endl;
  } else {
    coll_.Broadcast(params);
  }
  coll_.PlanBuckets(params, static_cast<size_t>(o_.bucket_mb * 1024 * 1024));
  report_.buckets = static_cast<int64_t>(coll_.bucket_count());

  const int64_t spe = report_.steps_per_epoch;
  int64_t step = report_.start_step;
  std::vector<int64_t> order;
  int64_t order_epoch = -1;
  double epoch_loss = 0, epoch_seconds = 0, window_seconds = 0;
  int64_t epoch_steps = 0, window_steps = 0, run_steps = 0;
  model_->train();

  auto finish_epoch = [&](int64_t epoch) {
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = epoch_steps > 0 ? epoch_loss / epoch_steps : 0;
    rec.seconds = epoch_seconds;
    rec.samples_per_s = epoch_seconds > 0 ? epoch_steps * report_.global_batch / epoch_seconds : 0;
    if (o_.evaluate) {
      EvalResult ev = Evaluate(model_, test, coll_);
      rec.test_loss = ev.loss;
      rec.test_accuracy = ev.accuracy;
      report_.final_test_loss = ev.loss;
      report_.final_test_accuracy = ev.accuracy;
    }
    report_.epochs.push_back(rec);
    if (Leader()) {
      log_ << "epoch " << rec.epoch << "/" << o_.epochs
           << ": train_loss=" << FormatDouble("%.4f", rec.train_loss)
           << " test_loss=" << FormatDouble("%.4f", rec.test_loss)
           << " test_accuracy=" << FormatDouble("%.4f", rec.test_accuracy)
           << " seconds=" << FormatDouble("%.1f", rec.seconds)
           << " samples_per_s=" << FormatDouble("%.1f", rec.samples_per_s) << std::endl;
    }
    epoch_loss = epoch_seconds = 0;
    epoch_steps = 0;
  };

  while (step < report_.total_steps) {
    const int64_t epoch = step / spe;
    const int64_t in_epoch = step % spe;
    if (epoch != order_epoch) {
      order = EpochPermutation(train_set.count, o_.seed, epoch);
      order_epoch = epoch;
    }
    const auto t0 = Clock::now();
    auto shard = ShardForStep(order, in_epoch, env_.rank, env_.world_size, o_.batch_size);
    auto idx = torch::from_blob(shard.data(), {static_cast<int64_t>(shard.size())}, torch::kInt64)
                   .to(device);
    auto x = train.images.index_select(0, idx);
    auto y = train.labels.index_select(0, idx);
    model_->SeedDropout(MixSeed(MixSeed(o_.seed, static_cast<uint64_t>(env_.rank) + 1),
                                static_cast<uint64_t>(step)));
    opt_->zero_grad();
    auto loss = torch::nll_loss(model_->forward(x), y);
    loss.backward();
    const bool vote = o_.stop_requested != nullptr && o_.stop_requested->load();
    SyncResult sync = coll_.AverageGradients(params, vote, loss.item<double>());
    opt_->step();
    ++step;
    const double dt = Seconds(t0, Clock::now());
    report_.allreduce_seconds += sync.seconds;
    report_.train_seconds += dt;
    epoch_seconds += dt;
    window_seconds += dt;
    epoch_loss += sync.mean_loss;
    ++epoch_steps;
    ++window_steps;
    ++run_steps;
    report_.steps_done = step;
    const bool epoch_end = step % spe == 0;
    const bool last = step == report_.total_steps;
    if (step % o_.progress_every == 0 || last || epoch_end || sync.stop) {
      Progress(step, epoch + 1, sync.mean_loss,
               window_steps * report_.global_batch / std::max(window_seconds, 1e-9));
      window_steps = 0;
      window_seconds = 0;
    }
    if (epoch_end || last) finish_epoch(epoch);
    if (epoch_end || last || sync.stop) {
      if (Status s = SaveCheckpoint(step); !s.ok()) return s;
    }
    if (sync.stop) {
      report_.interrupted = true;
      if (Leader()) log_ << "stopped on request at step " << step << std::endl;
      break;
    }
  }
  if (report_.start_step >= report_.total_steps && o_.evaluate) {
    EvalResult ev = Evaluate(model_, test, coll_);  // resumed a finished run: report its model
    report_.final_test_loss = ev.loss;
    report_.final_test_accuracy = ev.accuracy;
  }
  report_.samples_per_s =
      report_.train_seconds > 0 ? run_steps * report_.global_batch / report_.train_seconds : 0;
  if (Leader() && !report_.interrupted) {
    log_ << "done: test_accuracy=" << FormatDouble("%.4f", report_.final_test_accuracy)
         << " test_loss=" << FormatDouble("%.4f", report_.final_test_loss)
         << " samples_per_s=" << FormatDouble("%.1f", report_.samples_per_s)
         << " seconds_per_epoch="
         << FormatDouble("%.1f", spe * report_.train_seconds / std::max<int64_t>(run_steps, 1))
         << " allreduce_s_per_step="
         << FormatDouble("%.5f", report_.allreduce_seconds / std::max<int64_t>(run_steps, 1))
         << " world_size=" << env_.world_size << std::endl;
  }
  if (Status s = WriteOutputs(); !s.ok()) return s;
  if (o_.keep_params) {
    torch::NoGradGuard no_grad;
    for (const auto& p : params) {
      auto c = p.detach().cpu().contiguous().view({-1});
      report_.params.insert(report_.params.end(), c.data_ptr<float>(),
                            c.data_ptr<float>() + c.numel());
    }
  }
  return report_;
}

}  // namespace

Result<TrainReport> Train(const TrainOptions& options, const MnistSet& train_set,
                          const MnistSet& test_set, const DistEnv& env) {
  if (Status s = Validate(options, train_set, test_set, env); !s.ok()) return s;
  if (options.threads > 0) at::set_num_threads(options.threads);
  auto coll = Collective::Connect(env, options.timeout);
  if (!coll.ok()) return coll.status();
  std::ostream& log = options.log != nullptr ? *options.log : std::cout;
  try {
    Run run(options, env, **coll, log);
    return run.Go(train_set, test_set);
  } catch (const CollectiveError& e) {
    return Status::Unavailable(e.what());
  }
}

}  // namespace muster::train
