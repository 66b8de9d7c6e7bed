// JSON form of the training report and of the epoch history (see trainer.h).
#include <nlohmann/json.hpp>

#include "train/trainer.h"

namespace muster::train {
namespace {

nlohmann::json EpochJson(const EpochRecord& e) {
  return {{"epoch", e.epoch},         {"train_loss", e.train_loss},
          {"test_loss", e.test_loss}, {"test_accuracy", e.test_accuracy},
          {"seconds", e.seconds},     {"samples_per_s", e.samples_per_s}};
}

}  // namespace

std::string EpochsToJson(const std::vector<EpochRecord>& epochs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : epochs) a.push_back(EpochJson(e));
  return a.dump();
}

Result<std::vector<EpochRecord>> EpochsFromJson(const std::string& json) {
  std::vector<EpochRecord> out;
  try {
    for (const auto& j : nlohmann::json::parse(json)) {
      EpochRecord e;
      e.epoch = j.at("epoch").get<int64_t>();
      e.train_loss = j.at("train_loss").get<double>();
      e.test_loss = j.at("test_loss").get<double>();
      e.test_accuracy = j.at("test_accuracy").get<double>();
      e.seconds = j.at("seconds").get<double>();
      e.samples_per_s = j.at("samples_per_s").get<double>();
      out.push_back(e);
    }
  } catch (const std::exception& ex) {
    return Status::InvalidArgument(std::string("bad epoch history in checkpoint: ") + ex.what());
  }
  return out;
}

std::string ReportToJson(const TrainReport& r) {
  nlohmann::json j;
  j["world_size"] = r.world_size;
  j["backend"] = r.backend;
  j["batch_size_per_rank"] = r.batch_size;
  j["global_batch"] = r.global_batch;
  j["steps_per_epoch"] = r.steps_per_epoch;
  j["total_steps"] = r.total_steps;
  j["start_step"] = r.start_step;
  j["steps_done"] = r.steps_done;
  j["interrupted"] = r.interrupted;
  j["epochs"] = nlohmann::json::parse(EpochsToJson(r.epochs));
  j["final_test_loss"] = r.final_test_loss;
  j["final_test_accuracy"] = r.final_test_accuracy;
  j["train_seconds"] = r.train_seconds;
  j["samples_per_s"] = r.samples_per_s;
  j["allreduce_seconds"] = r.allreduce_seconds;
  j["buckets"] = r.buckets;
  if (!r.checkpoint_path.empty()) j["checkpoint"] = r.checkpoint_path;
  return j.dump(2);
}

}  // namespace muster::train
