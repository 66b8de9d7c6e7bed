#include "cluster/client/display.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdio>

#include "cluster/common/convert.h"

namespace muster::client {

std::string TextTable::Render() const {
  std::vector<size_t> width(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  };
  emit(headers_);
  for (const auto& r : rows_) emit(r);
  return out;
}

std::string FormatDurationShort(int64_t ms) {
  int64_t s = std::llabs(ms) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 60) return std::to_string(m) + "m";
  int64_t h = m / 60;
  if (h < 24) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  int64_t d = h / 24;
  return std::to_string(d) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
}

namespace {
bool g_absolute_times = false;
}  // namespace

void UseAbsoluteTimes(bool absolute) { g_absolute_times = absolute; }

std::string FormatUtcTime(int64_t t_ms) {
  if (t_ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(t_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatRelative(int64_t t_ms, int64_t now_ms) {
  if (t_ms <= 0) return "-";
  if (g_absolute_times) return FormatUtcTime(t_ms);
  int64_t d = t_ms - now_ms;
  if (std::llabs(d) < 1000) return "now";
  return d > 0 ? "in " + FormatDurationShort(d) : FormatDurationShort(d) + " ago";
}

std::string ProgressBar(double fraction, int width) {
  if (!std::isfinite(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  int filled = static_cast<int>(std::floor(fraction * width + 1e-9));
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

namespace {

std::string FormatNumber(double v) {
  char buf[64];
  if (std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

const char* const kTaskStateOrder[] = {"running", "launching", "pending", "succeeded",
                                       "failed",  "timeout",   "oom",     "lost",
                                       "cancelled"};

}  // namespace

std::string FormatProgress(const v1::Progress& p, int bar_width) {
  if (p.total() <= 0 && p.fields().empty()) return "";
  std::string out;
  if (p.total() > 0) {
    double f = p.done() / p.total();
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%%", std::clamp(f, 0.0, 1.0) * 100);
    out = ProgressBar(f, bar_width) + " " + pct + "  " + FormatNumber(p.done()) + "/" +
          FormatNumber(p.total());
  }
  // Known keys first, in a fixed order; then the rest alphabetically.
  std::vector<std::string> keys;
  for (const char* k : {"epoch", "loss", "acc", "samples_per_s"})
    if (p.fields().contains(k)) keys.push_back(k);
  std::vector<std::string> rest;
  for (const auto& [k, v] : p.fields())
    if (k != "done" && k != "total" && std::find(keys.begin(), keys.end(), k) == keys.end())
      rest.push_back(k);
  std::sort(rest.begin(), rest.end());
  keys.insert(keys.end(), rest.begin(), rest.end());
  for (const auto& k : keys) {
    if (!out.empty()) out += " ";
    out += k + "=" + p.fields().at(k);
  }
  return out;
}

std::string FormatTaskCounts(const v1::JobInfo& job) {
  std::map<std::string, int> counts(job.task_state_counts().begin(), job.task_state_counts().end());
  if (counts.empty())
    for (const auto& t : job.tasks()) ++counts[cluster::StateName(t.state())];
  std::string out;
  auto add = [&](const std::string& state, int n) {
    if (n <= 0) return;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + state;
  };
  for (const char* s : kTaskStateOrder) {
    auto it = counts.find(s);
    if (it != counts.end()) {
      add(s, it->second);
      counts.erase(it);
    }
  }
  for (const auto& [s, n] : counts) add(s, n);
  return out.empty() ? "-" : out;
}

int TaskTotal(const v1::JobInfo& job) {
  int n = 0;
  for (const auto& [s, c] : job.task_state_counts()) n += c;
  if (n > 0) return n;
  if (job.tasks_size() > 0) return job.tasks_size();
  return std::max(1, job.spec().tasks());
}

std::string FormatMiB(int64_t mib) {
  if (mib > 0 && mib % 1024 == 0) return std::to_string(mib / 1024) + "G";
  if (mib >= 10 * 1024) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fG", mib / 1024.0);
    return buf;
  }
  return std::to_string(mib) + "M";
}

std::string FormatRequest(const v1::ResourceRequest& r) {
  char cpu[32];
  std::snprintf(cpu, sizeof cpu, "%g", r.milli_cpus() / 1000.0);
  std::string out = std::string("cpu=") + cpu + " mem=" + FormatMiB(r.memory_mib());
  if (r.gpus() > 0) {
    out += " gpus=" + std::to_string(r.gpus());
    std::string extra;
    if (r.min_gpu_memory_mib() > 0) extra = ">=" + FormatMiB(r.min_gpu_memory_mib());
    if (!r.gpu_model().empty())
      extra += (extra.empty() ? "" : ", ") + std::string("model ") + r.gpu_model();
    if (!extra.empty()) out += " (" + extra + ")";
  }
  return out;
}

std::string FormatGpuList(const google::protobuf::RepeatedField<int32_t>& gpus) {
  if (gpus.empty()) return "-";
  std::string out;
  for (int g : gpus) out += (out.empty() ? "" : ",") + std::to_string(g);
  return out;
}

nlohmann::json ToJson(const v1::JobSpec& s) {
  nlohmann::json j;
  j["name"] = s.name();
  j["user"] = s.user();
  j["class"] = s.job_class();
  j["command"] = std::vector<std::string>(s.command().begin(), s.command().end());
  j["env"] = std::map<std::string, std::string>(s.env().begin(), s.env().end());
  j["workdir"] = s.workdir();
  j["tasks"] = s.tasks();
  j["gang"] = s.gang();
  j["ranks_per_node"] = s.ranks_per_node();
  j["array"] = cluster::FormatArrayRange(s);
  j["after"] = std::vector<int64_t>(s.after().begin(), s.after().end());
  j["priority"] = s.priority();
  j["cpus"] = s.resources().milli_cpus() / 1000.0;
  j["mem_mib"] = s.resources().memory_mib();
  j["gpus"] = s.resources().gpus();
  j["gpu_mem_mib"] = s.resources().min_gpu_memory_mib();
  j["gpu_model"] = s.resources().gpu_model();
  j["est_time_s"] = s.est_time_s();
  j["est_work"] = s.est_work();
  j["checkpointable"] = s.checkpointable();
  j["retries"] = s.max_retries();
  j["time_limit_ms"] = s.time_limit_ms();
  j["on_preempt"] = s.cancel_on_preempt() ? "cancel" : "requeue";
  return j;
}

nlohmann::json ToJson(const v1::Progress& p) {
  nlohmann::json j;
  j["done"] = p.done();
  j["total"] = p.total();
  j["fields"] = std::map<std::string, std::string>(p.fields().begin(), p.fields().end());
  j["time_ms"] = p.time_ms();
  return j;
}

nlohmann::json ToJson(const v1::TaskInfo& t) {
  nlohmann::json j;
  j["index"] = t.index();
  j["state"] = cluster::StateName(t.state());
  j["node"] = t.node();
  j["gpus"] = std::vector<int>(t.gpus().begin(), t.gpus().end());
  j["attempt"] = t.attempt();
  j["exit_code"] = t.exit_code();
  // Measured when the attempt ended; null = not measured (no cgroup, or still running).
  j["peak_memory_mib"] = t.peak_memory_mib() > 0 ? nlohmann::json(t.peak_memory_mib()) : nullptr;
  j["cpu_seconds"] = t.cpu_seconds() >= 0 && t.end_ms() > 0 ? nlohmann::json(t.cpu_seconds())
                                                            : nullptr;
  j["message"] = t.message();
  j["start_ms"] = t.start_ms();
  j["end_ms"] = t.end_ms();
  j["predicted_start_ms"] = t.predicted_start_ms();
  j["predicted_finish_ms"] = t.predicted_finish_ms();
  j["retries"] = t.retries();
  j["progress"] = t.has_progress() ? ToJson(t.progress()) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json ToJson(const v1::JobInfo& job) {
  nlohmann::json j;
  j["job_id"] = job.job_id();
  j["name"] = job.spec().name();
  j["user"] = job.spec().user();
  j["state"] = cluster::StateName(job.state());
  j["reason"] = job.reason();
  j["submit_ms"] = job.submit_ms();
  j["start_ms"] = job.start_ms();
  j["end_ms"] = job.end_ms();
  j["predicted_start_ms"] = job.predicted_start_ms();
  j["predicted_finish_ms"] = job.predicted_finish_ms();
  j["task_count"] = TaskTotal(job);
  j["task_states"] =
      std::map<std::string, int>(job.task_state_counts().begin(), job.task_state_counts().end());
  j["spec"] = ToJson(job.spec());
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : job.tasks()) tasks.push_back(ToJson(t));
  j["tasks"] = tasks;
  j["history"] = std::vector<std::string>(job.history().begin(), job.history().end());
  j["predicted_at_submit"] =
      job.submit_prediction_made_ms() > 0
          ? nlohmann::json{{"made_ms", job.submit_prediction_made_ms()},
                           {"start_ms", job.submit_predicted_start_ms()},
                           {"finish_ms", job.submit_predicted_finish_ms()},
                           {"run_low_s", job.submit_predicted_low_s()},
                           {"run_high_s", job.submit_predicted_high_s()}}
          : nlohmann::json(nullptr);
  return j;
}

namespace {

nlohmann::json FieldValue(const google::protobuf::Message& m,
                          const google::protobuf::FieldDescriptor* f, int index) {
  using F = google::protobuf::FieldDescriptor;
  const auto* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case F::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case F::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case F::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case F::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case F::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case F::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    case F::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case F::CPPTYPE_ENUM:
      return (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case F::CPPTYPE_STRING: return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case F::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return nullptr;
}

}  // namespace

nlohmann::json ProtoToJson(const google::protobuf::Message& m) {
  nlohmann::json out = nlohmann::json::object();
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_map()) {
      nlohmann::json obj = nlohmann::json::object();
      for (int k = 0; k < r->FieldSize(m, f); ++k) {
        const auto& entry = r->GetRepeatedMessage(m, f, k);
        const auto* kd = entry.GetDescriptor()->FindFieldByName("key");
        const auto* vd = entry.GetDescriptor()->FindFieldByName("value");
        nlohmann::json key = FieldValue(entry, kd, -1);
        obj[key.is_string() ? key.get<std::string>() : key.dump()] = FieldValue(entry, vd, -1);
      }
      out[f->name()] = std::move(obj);
    } else if (f->is_repeated()) {
      nlohmann::json arr = nlohmann::json::array();
      for (int k = 0; k < r->FieldSize(m, f); ++k) arr.push_back(FieldValue(m, f, k));
      out[f->name()] = std::move(arr);
    } else {
      out[f->name()] = FieldValue(m, f, -1);
    }
  }
  return out;
}

nlohmann::json ToJson(const v1::NodeInfo& n) {
  nlohmann::json j;
  j["name"] = n.spec().name();
  j["address"] = n.spec().address();
  j["state"] = n.state();
  j["cpus"] = n.spec().milli_cpus() / 1000.0;
  j["cpus_free"] = n.free_milli_cpus() / 1000.0;
  j["mem_mib"] = n.spec().memory_mib();
  j["mem_free_mib"] = n.free_memory_mib();
  nlohmann::json gpus = nlohmann::json::array();
  for (int i = 0; i < n.spec().gpus_size(); ++i) {
    const auto& g = n.spec().gpus(i);
    gpus.push_back({{"index", g.index()},
                    {"model", g.model()},
                    {"memory_mib", g.memory_mib()},
                    {"virtual", g.is_virtual()},
                    {"uuid", g.uuid()},
                    // Live readings where the driver reports them; null where it does not.
                    {"utilization", g.utilization() >= 0 ? nlohmann::json(g.utilization())
                                                         : nlohmann::json(nullptr)},
                    {"power_w",
                     g.power_w() >= 0 ? nlohmann::json(g.power_w()) : nlohmann::json(nullptr)},
                    {"memory_used_mib", g.memory_used_mib() >= 0
                                            ? nlohmann::json(g.memory_used_mib())
                                            : nlohmann::json(nullptr)},
                    {"free", i < n.gpu_free_size() ? n.gpu_free(i) : false}});
  }
  j["gpus"] = gpus;
  j["speed"] = n.spec().speed();
  j["load"] = n.load();
  j["containment"] = n.containment();
  j["running_tasks"] = n.running_tasks();
  j["last_heartbeat_ms"] = n.last_heartbeat_ms();
  if (n.drained_ms() > 0)
    j["drain"] = {{"reason", n.drain_reason()}, {"by", n.drained_by()}, {"since_ms", n.drained_ms()}};
  return j;
}

nlohmann::json ToJson(const v1::ScheduleRow& r) {
  nlohmann::json j;
  j["job_id"] = r.job_id();
  j["job_name"] = r.job_name();
  j["task"] = r.task_index();
  j["node"] = r.node();
  j["gpus"] = std::vector<int>(r.gpus().begin(), r.gpus().end());
  j["state"] = cluster::StateName(r.state());
  j["predicted_start_ms"] = r.predicted_start_ms();
  j["predicted_finish_ms"] = r.predicted_finish_ms();
  j["actual_start_ms"] = r.actual_start_ms();
  j["actual_finish_ms"] = r.actual_finish_ms();
  j["submit_predicted_start_ms"] = r.submit_predicted_start_ms();
  j["submit_predicted_finish_ms"] = r.submit_predicted_finish_ms();
  return j;
}

}  // namespace muster::client
