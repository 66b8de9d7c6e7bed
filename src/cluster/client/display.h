// Text and JSON renderings of coordinator replies for the CLI: aligned tables, relative times,
// progress bars, task-state summaries, and JSON objects with stable snake_case keys (ids as
// numbers, times as epoch milliseconds; 0 = unknown).
//
// All functions are pure: "now" is passed in (the coordinator's now_ms, so clock skew between
// the client and the coordinator does not distort relative times).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cluster/proto/muster.pb.h"

namespace muster::client {

// A left-aligned text table with a header row; columns separated by two spaces.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  size_t size() const { return rows_.size(); }
  // Every line ends with '\n'; trailing spaces are trimmed.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "3s", "4m", "1h20m", "2d3h"; negative durations are shown as their absolute value.
std::string FormatDurationShort(int64_t ms);
// "-" when t_ms is 0; "now" within a second; "in 3m" for the future; "5s ago" for the past; or,
// after UseAbsoluteTimes(true) (--absolute), FormatUtcTime.
std::string FormatRelative(int64_t t_ms, int64_t now_ms);
// "2026-12-01 23:12:52" (UTC); "-" when t_ms is 0.
std::string FormatUtcTime(int64_t t_ms);
// For the whole process (the CLI's --absolute).
void UseAbsoluteTimes(bool absolute);
// "[#####.....]" with `width` cells; fraction clamped to [0, 1].
std::string ProgressBar(double fraction, int width);
// The progress summary of one task, e.g. "[####......]  40%  400/1000 epoch=2 loss=0.3412".
// Empty when the task has reported no progress.
std::string FormatProgress(const v1::Progress& p, int bar_width = 20);
// "3 running, 5 pending, 92 succeeded" from task_state_counts (states in lifecycle order).
std::string FormatTaskCounts(const v1::JobInfo& job);
// Total number of tasks of a job (from the counts, else the task list, else the spec).
int TaskTotal(const v1::JobInfo& job);
// Resource request as "cpu=1 mem=512M gpus=2 (>=16G, model H100)".
std::string FormatRequest(const v1::ResourceRequest& r);
// "1000M", "16G" (whole GiB), "31.5G" (10 GiB and more, one decimal).
std::string FormatMiB(int64_t mib);
// "0,1" for GPU indices; "-" when empty.
std::string FormatGpuList(const google::protobuf::RepeatedField<int32_t>& gpus);

// Any message as JSON in muster's style: the proto's (snake_case) field names, every field
// (unset ones with their defaults), numbers as numbers (int64 too), enums by name, maps as objects.
nlohmann::json ProtoToJson(const google::protobuf::Message& m);

nlohmann::json ToJson(const v1::JobSpec& spec);
nlohmann::json ToJson(const v1::Progress& p);
nlohmann::json ToJson(const v1::TaskInfo& t);
nlohmann::json ToJson(const v1::JobInfo& j);
nlohmann::json ToJson(const v1::NodeInfo& n);
nlohmann::json ToJson(const v1::ScheduleRow& r);

}  // namespace muster::client
