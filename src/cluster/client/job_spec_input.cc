#include "cluster/client/job_spec_input.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

namespace muster::client {

namespace {

std::optional<long long> ParseInteger(std::string_view s, long long lo, long long hi) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::optional<bool> ParseBool(std::string_view s) {
  std::string t(s);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return std::nullopt;
}

std::string NormalizeKey(std::string_view key) {
  std::string k(key);
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

Status Bad(const std::string& value, const std::string& expected) {
  return Status::InvalidArgument("'" + value + "' is not " + expected);
}

Result<std::vector<JobId>> ParseAfterList(const std::string& value) {
  std::vector<JobId> ids;
  std::stringstream ss(value);
  std::string part;
  while (std::getline(ss, part, ',')) {
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (part.empty()) continue;
    auto id = ParseInteger(part, 1, INT64_MAX);
    if (!id) return Bad(part, "a job id (a positive integer)");
    ids.push_back(*id);
  }
  return ids;
}

}  // namespace

const std::vector<std::string>& SpecFieldKeys() {
  static const std::vector<std::string> keys = {
      "name", "user",           "class",     "command",  "env",      "workdir",        "tasks",
      "gang", "ranks_per_node", "array",     "after",    "priority", "cpus",           "mem",
      "gpus", "gpu_mem",        "gpu_model", "est_time", "est_work", "checkpointable", "retries",
      "log_limit", "time", "signal_grace", "requeue_on_timeout", "afterok", "after_any",
      "afterany", "after_notok", "afternotok", "singleton", "output", "error", "on_preempt"};
  return keys;
}

std::optional<double> ParseDurationSeconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (auto plain = ParseNumber(text)) return plain;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.'))
      ++j;
    if (j == i || j == text.size()) return std::nullopt;
    auto n = ParseNumber(text.substr(i, j - i));
    if (!n) return std::nullopt;
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    std::string_view unit = text.substr(j, k - j);
    double scale = 0;
    if (unit == "ms")
      scale = 0.001;
    else if (unit == "s")
      scale = 1;
    else if (unit == "m" || unit == "min")
      scale = 60;
    else if (unit == "h")
      scale = 3600;
    else if (unit == "d")
      scale = 86400;
    else
      return std::nullopt;
    total += *n * scale;
    i = k;
  }
  return total;
}

Status SetSpecField(JobSpecInput& in, std::string_view raw_key, const std::string& v) {
  const std::string key = NormalizeKey(raw_key);
  if (key == "name") {
    in.name = v;
    return Status::Ok();
  }
  if (key == "user") {
    if (v.empty()) return Status::InvalidArgument("must not be empty");
    in.user = v;
    return Status::Ok();
  }
  if (key == "class" || key == "job_class") {
    in.job_class = v;
    return Status::Ok();
  }
  if (key == "workdir") {
    in.workdir = v;
    return Status::Ok();
  }
  if (key == "gpu_model") {
    in.gpu_model = v;
    return Status::Ok();
  }
  if (key == "command") {
    if (v.empty()) return Status::InvalidArgument("must not be empty");
    in.command = std::vector<std::string>{"/bin/sh", "-c", v};
    return Status::Ok();
  }
  if (key == "env") {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) return Bad(v, "of the form KEY=VALUE");
    in.env[v.substr(0, eq)] = v.substr(eq + 1);
    return Status::Ok();
  }
  if (key == "array") {
    auto r = ParseArrayRange(v);
    if (!r.ok()) return r.status();
    in.array = v;
    return Status::Ok();
  }
  if (key == "after" || key == "afterok" || key == "after_any" || key == "afterany" ||
      key == "after_notok" || key == "afternotok") {
    auto ids = ParseAfterList(v);
    if (!ids.ok()) return ids.status();
    auto& list = key == "after" || key == "afterok"        ? in.after
                 : key == "after_any" || key == "afterany" ? in.after_any
                                                           : in.after_notok;
    if (!list) list.emplace();
    list->insert(list->end(), ids->begin(), ids->end());
    return Status::Ok();
  }
  if (key == "tasks") {
    auto n = ParseInteger(v, 1, 100000);
    if (!n) return Bad(v, "a task count between 1 and 100000");
    in.tasks = static_cast<int>(*n);
    return Status::Ok();
  }
  if (key == "ranks_per_node") {
    auto n = ParseInteger(v, 0, 1024);
    if (!n) return Bad(v, "a rank count between 0 and 1024");
    in.ranks_per_node = static_cast<int>(*n);
    return Status::Ok();
  }
  if (key == "priority") {
    auto n = ParseInteger(v, -1000000, 1000000);
    if (!n) return Bad(v, "an integer priority");
    in.priority = static_cast<int>(*n);
    return Status::Ok();
  }
  if (key == "gpus") {
    auto n = ParseInteger(v, 0, 1024);
    if (!n) return Bad(v, "a GPU count (0 or more)");
    in.gpus = static_cast<int>(*n);
    return Status::Ok();
  }
  if (key == "retries" || key == "max_retries") {
    auto n = ParseInteger(v, 0, 100);
    if (!n) return Bad(v, "a retry count between 0 and 100");
    in.max_retries = static_cast<int>(*n);
    return Status::Ok();
  }
  if (key == "gang" || key == "checkpointable" || key == "requeue_on_timeout" ||
      key == "singleton") {
    auto b = ParseBool(v);
    if (!b) return Bad(v, "true or false");
    (key == "gang"             ? in.gang
     : key == "checkpointable" ? in.checkpointable
     : key == "singleton"      ? in.singleton
                               : in.requeue_on_timeout) = *b;
    return Status::Ok();
  }
  if (key == "on_preempt") {
    if (v != "requeue" && v != "cancel") return Bad(v, "requeue or cancel");
    in.cancel_on_preempt = v == "cancel";
    return Status::Ok();
  }
  if (key == "time") {
    const DurationMs ms = ParseTimeLimitMs(v);
    if (ms <= 0) return Bad(v, "a time limit like 2h, 90m, 1h30m, 30 (minutes), 1:30:00 or 2-12");
    in.time_limit_ms = ms;
    return Status::Ok();
  }
  if (key == "signal_grace") {
    const DurationMs ms = ParseDurationMs(v);
    if (ms <= 0) return Bad(v, "a duration like 30s or 2m");
    in.signal_grace_ms = ms;
    return Status::Ok();
  }
  if (key == "cpus") {
    MilliCpu m = ParseMilliCpus(v);
    if (m < 0) return Bad(v, "a CPU count like 1, 0.5 or 500m");
    in.milli_cpus = m;
    return Status::Ok();
  }
  if (key == "output" || key == "error") {
    if (Status s = CheckOutputPattern(v, "--" + std::string(key)); !s.ok()) return s;
    (key == "output" ? in.output : in.error) = v;
    return Status::Ok();
  }
  if (key == "log_limit") {
    MiB m = ParseMemoryMiB(v);
    if (m < 1) return Bad(v, "a size of at least 1M, like 64M or 1G");
    in.log_limit_mib = m;
    return Status::Ok();
  }
  if (key == "mem" || key == "gpu_mem") {
    MiB m = ParseMemoryMiB(v);
    if (m < 0) return Bad(v, "a memory size like 512M or 16G");
    (key == "mem" ? in.memory_mib : in.min_gpu_memory_mib) = m;
    return Status::Ok();
  }
  if (key == "est_time") {
    auto s = ParseDurationSeconds(v);
    if (!s) return Bad(v, "a duration like 90, 90s, 5m or 1h30m");
    in.est_time_s = *s;
    return Status::Ok();
  }
  if (key == "est_work") {
    auto w = ParseNumber(v);
    if (!w) return Bad(v, "a non-negative number");
    in.est_work = *w;
    return Status::Ok();
  }
  return Status::InvalidArgument("unknown key");
}

Result<JobSpecInput> ParseJobSpecYaml(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("not valid YAML: " + e.msg + " (line " +
                                   std::to_string(e.mark.line + 1) + ")");
  }
  if (!root.IsDefined() || root.IsNull()) return Status::InvalidArgument("the job file is empty");
  if (!root.IsMap())
    return Status::InvalidArgument("the job file must be a mapping of keys to values");
  JobSpecInput in;
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& val = kv.second;
    const std::string nkey = NormalizeKey(key);
    auto where = [&] {
      return "key '" + key + "' (line " + std::to_string(val.Mark().line + 1) + ")";
    };
    auto fail = [&](const std::string& why) {
      return Status::InvalidArgument(where() + ": " + why);
    };
    if (std::find(SpecFieldKeys().begin(), SpecFieldKeys().end(), nkey) ==
        SpecFieldKeys().end()) {
      std::string known;
      for (const std::string& k : SpecFieldKeys()) known += (known.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("unknown key '" + key + "' (line " +
                                     std::to_string(kv.first.Mark().line + 1) +
                                     "); known keys: " + known);
    }
    if (nkey == "command" && val.IsSequence()) {
      std::vector<std::string> argv;
      for (const auto& a : val) {
        if (!a.IsScalar()) return fail("each command argument must be a string");
        argv.push_back(a.Scalar());
      }
      if (argv.empty()) return fail("the command must not be empty");
      in.command = std::move(argv);
      continue;
    }
    if (nkey == "env") {
      if (!val.IsMap()) return fail("env must be a mapping of NAME: value");
      for (const auto& e : val) {
        if (!e.second.IsScalar())
          return fail("env value of '" + e.first.Scalar() + "' must be a string");
        in.env[e.first.Scalar()] = e.second.Scalar();
      }
      continue;
    }
    if ((nkey == "after" || nkey == "afterok" || nkey == "after_any" || nkey == "afterany" ||
         nkey == "after_notok" || nkey == "afternotok") &&
        val.IsSequence()) {
      for (const auto& a : val) {
        if (!a.IsScalar()) return fail("each entry must be a job id");
        Status st = SetSpecField(in, nkey, a.Scalar());
        if (!st.ok()) return fail(st.message());
      }
      continue;
    }
    if (!val.IsScalar()) return fail("expected a single value");
    Status st = SetSpecField(in, nkey, val.Scalar());
    if (!st.ok()) return fail(st.message());
  }
  return in;
}

void OverlaySpec(JobSpecInput& base, const JobSpecInput& top) {
  auto take = [](auto& dst, const auto& src) {
    if (src) dst = src;
  };
  take(base.name, top.name);
  take(base.user, top.user);
  take(base.job_class, top.job_class);
  take(base.workdir, top.workdir);
  take(base.array, top.array);
  take(base.gpu_model, top.gpu_model);
  take(base.command, top.command);
  for (const auto& [k, v] : top.env) base.env[k] = v;
  take(base.tasks, top.tasks);
  take(base.ranks_per_node, top.ranks_per_node);
  take(base.priority, top.priority);
  take(base.gpus, top.gpus);
  take(base.max_retries, top.max_retries);
  take(base.gang, top.gang);
  take(base.checkpointable, top.checkpointable);
  take(base.requeue_on_timeout, top.requeue_on_timeout);
  take(base.cancel_on_preempt, top.cancel_on_preempt);
  take(base.time_limit_ms, top.time_limit_ms);
  take(base.signal_grace_ms, top.signal_grace_ms);
  take(base.after, top.after);
  take(base.after_any, top.after_any);
  take(base.after_notok, top.after_notok);
  take(base.singleton, top.singleton);
  take(base.milli_cpus, top.milli_cpus);
  take(base.memory_mib, top.memory_mib);
  take(base.min_gpu_memory_mib, top.min_gpu_memory_mib);
  take(base.log_limit_mib, top.log_limit_mib);
  take(base.output, top.output);
  take(base.error, top.error);
  take(base.est_work, top.est_work);
  take(base.est_time_s, top.est_time_s);
}

Result<JobSpec> BuildJobSpec(const JobSpecInput& in, const SpecDefaults& defaults) {
  JobSpec s;
  if (!in.command || in.command->empty())
    return Status::InvalidArgument(
        "no command given; put it after '--' or set 'command' in the job file");
  s.command = *in.command;
  s.user = in.user.value_or(defaults.user);  // "": the coordinator takes the caller's identity
  s.name = in.name.value_or("");
  if (s.name.empty()) {
    const std::string& prog =
        s.command[0] == "/bin/sh" && s.command.size() == 3 ? s.command[2] : s.command[0];
    std::string base = prog.substr(0, prog.find(' '));
    size_t slash = base.find_last_of('/');
    s.name = slash == std::string::npos ? base : base.substr(slash + 1);
  }
  s.job_class = in.job_class.value_or("");
  s.workdir = in.workdir.value_or(defaults.workdir);
  s.env = in.env;
  s.tasks = in.tasks.value_or(1);
  if (in.array) {
    auto r = ParseArrayRange(*in.array);
    if (!r.ok()) return r.status();
    s.array = *r;
    if (in.tasks && *in.tasks != 1)
      return Status::InvalidArgument(
          "give either tasks (a gang) or array (independent tasks), not both");
    if (in.gang.value_or(false))
      return Status::InvalidArgument("an array job cannot be a gang; use tasks N for a gang");
    s.gang = false;
  } else {
    s.gang = in.gang.value_or(s.tasks > 1);
  }
  s.ranks_per_node = in.ranks_per_node.value_or(0);
  if (s.ranks_per_node > 0 && !s.gang)
    return Status::InvalidArgument("ranks-per-node applies only to a gang (tasks > 1)");
  s.after = in.after.value_or(std::vector<JobId>{});
  s.after_any = in.after_any.value_or(std::vector<JobId>{});
  s.after_notok = in.after_notok.value_or(std::vector<JobId>{});
  s.singleton = in.singleton.value_or(false);
  s.priority = in.priority.value_or(0);
  s.resources.milli_cpus = in.milli_cpus.value_or(1000);
  s.resources.memory_mib = in.memory_mib.value_or(512);
  s.resources.gpus = in.gpus.value_or(0);
  s.resources.min_gpu_memory_mib = in.min_gpu_memory_mib.value_or(0);
  s.log_limit_mib = in.log_limit_mib.value_or(0);
  s.memory_given = in.memory_mib.has_value();
  s.output_pattern = in.output.value_or("");
  s.error_pattern = in.error.value_or("");
  s.resources.gpu_model = in.gpu_model.value_or("");
  if (s.resources.gpus == 0 &&
      (s.resources.min_gpu_memory_mib > 0 || !s.resources.gpu_model.empty()))
    return Status::InvalidArgument("gpu-mem and gpu-model need --gpus of at least 1");
  s.est_work = in.est_work.value_or(0);
  s.est_time_s = in.est_time_s.value_or(0);
  s.checkpointable = in.checkpointable.value_or(false);
  s.max_retries = in.max_retries.value_or(0);
  s.time_limit_ms = in.time_limit_ms.value_or(0);
  s.signal_grace_ms = in.signal_grace_ms.value_or(0);
  s.requeue_on_timeout = in.requeue_on_timeout.value_or(false);
  s.cancel_on_preempt = in.cancel_on_preempt.value_or(false);
  Status st = s.Validate();
  if (!st.ok()) return st;
  return s;
}

}  // namespace muster::client
