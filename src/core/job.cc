#include "core/job.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace muster {

namespace {

bool ParseInt(const std::string& s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = std::atoi(s.c_str());
  return true;
}

}  // namespace

Result<ArrayRange> ParseArrayRange(const std::string& text) {
  ArrayRange r;
  std::string body = text;
  size_t pct = body.find('%');
  if (pct != std::string::npos) {
    if (!ParseInt(body.substr(pct + 1), &r.throttle) || r.throttle == 0)
      return Status::InvalidArgument("array throttle after '%' must be a positive integer in '" +
                                     text + "'");
    body = body.substr(0, pct);
  }
  size_t dash = body.find('-');
  if (dash == std::string::npos) {
    if (!ParseInt(body, &r.first))
      return Status::InvalidArgument("array range '" + text + "' is not N, N-M or N-M%K");
    r.last = r.first;
  } else if (!ParseInt(body.substr(0, dash), &r.first) ||
             !ParseInt(body.substr(dash + 1), &r.last)) {
    return Status::InvalidArgument("array range '" + text + "' is not N, N-M or N-M%K");
  }
  auto checked = CheckArrayRange(r.first, r.last, r.throttle);
  if (!checked.ok())
    return Status::InvalidArgument("array range '" + text + "' " + checked.status().message());
  return checked;
}

Result<ArrayRange> CheckArrayRange(int64_t first, int64_t last, int64_t throttle) {
  if (first < 0) return Status::InvalidArgument("starts below 0");
  if (last < first) return Status::InvalidArgument("ends before it starts");
  if (last - first + 1 > kMaxArrayTasks)
    return Status::InvalidArgument("has more than 1,000,000 tasks");
  if (throttle < 0 || throttle > std::numeric_limits<int>::max())
    return Status::InvalidArgument("has a throttle below 0 or too large");
  return ArrayRange{.first = static_cast<int>(first), .last = static_cast<int>(last),
                    .throttle = static_cast<int>(throttle)};
}

namespace {
constexpr std::string_view kPatternLetters = "jtaAxuNr%";
}  // namespace

std::string ExpandOutputPattern(const std::string& pattern, const OutputNames& n) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    switch (pattern[++i]) {
      case 'j':
      case 'A': out += std::to_string(n.job); break;
      case 't':
      case 'a': out += std::to_string(n.task_index); break;
      case 'x': out += n.name; break;
      case 'u': out += n.user; break;
      case 'N': out += n.node; break;
      case 'r': out += std::to_string(n.attempt); break;
      default: out += pattern[i];  // '%'
    }
  }
  return out;
}

Status CheckOutputPattern(const std::string& pattern, const std::string& what) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\0')
      return Status::InvalidArgument(what + " must not contain a NUL byte");
    if (pattern[i] != '%') continue;
    if (i + 1 == pattern.size() || kPatternLetters.find(pattern[i + 1]) == std::string_view::npos)
      return Status::InvalidArgument(
          what + " '" + pattern + "': unknown %" + (i + 1 < pattern.size() ? std::string(1, pattern[i + 1]) : "") +
          " (known: %j job, %t or %a task index, %A job, %x name, %u user, %N node, %r attempt, "
          "%% a percent sign)");
    ++i;
  }
  return Status::Ok();
}

Status JobSpec::Validate() const {
  if (command.empty() || command[0].empty())
    return Status::InvalidArgument("job has no command; give one after '--'");
  if (request_id.size() > SpecLimits::kRequestId ||
      std::any_of(request_id.begin(), request_id.end(),
                  [](char c) { return c < 0x21 || c > 0x7e; }))
    return Status::InvalidArgument("a submission's request id is at most " +
                                   std::to_string(SpecLimits::kRequestId) +
                                   " printable ASCII characters without spaces");
  if (array.empty() && (tasks < 1 || tasks > 100000))
    return Status::InvalidArgument("tasks must be between 1 and 100000, got " +
                                   std::to_string(tasks));
  if (gang && !array.empty()) return Status::InvalidArgument("a job cannot be both a gang and an array");
  if (ranks_per_node < 0) return Status::InvalidArgument("ranks-per-node must be >= 0");
  if (gang && ranks_per_node > 0 && tasks % ranks_per_node != 0)
    return Status::InvalidArgument("gang of " + std::to_string(tasks) +
                                   " ranks is not a multiple of ranks-per-node " +
                                   std::to_string(ranks_per_node));
  if (resources.milli_cpus < 0 || resources.memory_mib < 0 || resources.gpus < 0 ||
      resources.min_gpu_memory_mib < 0)
    return Status::InvalidArgument("resource requests must not be negative");
  if (resources.milli_cpus == 0 && resources.gpus == 0)
    return Status::InvalidArgument("a task must request some CPU or at least one GPU");
  if (max_retries < 0 || max_retries > 100)
    return Status::InvalidArgument("max-retries must be between 0 and 100");
  if (!std::isfinite(est_work) || !std::isfinite(est_time_s) || est_work < 0 || est_time_s < 0 ||
      est_work > SpecLimits::kEstimate || est_time_s > SpecLimits::kEstimate)
    return Status::InvalidArgument("estimates must be finite numbers between 0 and 1e9");
  if (log_limit_mib < 0) return Status::InvalidArgument("log-limit must not be negative");
  if (time_limit_ms < 0 || time_limit_ms > SpecLimits::kTimeLimitMs)
    return Status::InvalidArgument("the time limit must be between 0 and 366 days");
  if (signal_grace_ms < 0 || signal_grace_ms > SpecLimits::kSignalGraceMs)
    return Status::InvalidArgument("the signal grace must be between 0 and 1 hour");
  if (requeue_on_timeout && !checkpointable)
    return Status::InvalidArgument(
        "requeue-on-timeout needs a checkpointable job (it resumes from its checkpoint)");

  using L = SpecLimits;
  auto too_long = [](const char* what, size_t limit) {
    return Status::InvalidArgument(std::string(what) + " is longer than " + std::to_string(limit) +
                                   " bytes");
  };
  if (name.size() > L::kName) return too_long("the job name", L::kName);
  if (job_class.size() > L::kName) return too_long("the job class", L::kName);
  if (user.size() > 64) return too_long("the user name", 64);
  if (workdir.size() > L::kPath) return too_long("the working directory", L::kPath);
  if (output_pattern.size() > L::kPath) return too_long("--output", L::kPath);
  if (error_pattern.size() > L::kPath) return too_long("--error", L::kPath);
  if (Status s = CheckOutputPattern(output_pattern, "--output"); !s.ok()) return s;
  if (Status s = CheckOutputPattern(error_pattern, "--error"); !s.ok()) return s;
  if (command.size() > L::kArgs)
    return Status::InvalidArgument("the command has more than " + std::to_string(L::kArgs) +
                                   " arguments");
  size_t bytes = 0;
  for (const auto& a : command) bytes += a.size();
  if (bytes > L::kCommandBytes) return too_long("the command", L::kCommandBytes);
  if (env.size() > L::kEnvVars)
    return Status::InvalidArgument("more than " + std::to_string(L::kEnvVars) +
                                   " environment variables");
  bytes = 0;
  for (const auto& [k, v] : env) bytes += k.size() + v.size();
  if (bytes > L::kEnvBytes) return too_long("the environment", L::kEnvBytes);
  if (after.size() + after_any.size() + after_notok.size() > L::kAfter)
    return Status::InvalidArgument("more than " + std::to_string(L::kAfter) + " dependencies");
  if (priority > L::kPriority || priority < -L::kPriority)
    return Status::InvalidArgument("priority must be between -1000000 and 1000000");
  if (resources.milli_cpus > L::kMilliCpus || resources.memory_mib > L::kMemoryMiB ||
      resources.gpus > L::kGpus || resources.min_gpu_memory_mib > L::kMemoryMiB ||
      resources.gpu_model.size() > L::kName)
    return Status::InvalidArgument("a resource request is beyond any node (at most " +
                                   std::to_string(L::kGpus) + " GPUs, 2^30 mCPU, 2^40 MiB)");
  return Status::Ok();
}

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kPending: return "pending";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kTimeout: return "timeout";
    case JobState::kOom: return "oom";
  }
  return "unknown";
}

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kLaunching: return "launching";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
    case TaskState::kLost: return "lost";
    case TaskState::kTimeout: return "timeout";
    case TaskState::kOom: return "oom";
  }
  return "unknown";
}

std::optional<JobState> ParseJobState(const std::string& s) {
  for (auto st : {JobState::kPending, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                  JobState::kCancelled, JobState::kTimeout, JobState::kOom})
    if (s == JobStateName(st)) return st;
  return std::nullopt;
}

std::optional<TaskState> ParseTaskState(const std::string& s) {
  for (auto st : {TaskState::kPending, TaskState::kLaunching, TaskState::kRunning,
                  TaskState::kSucceeded, TaskState::kFailed, TaskState::kCancelled,
                  TaskState::kLost, TaskState::kTimeout, TaskState::kOom})
    if (s == TaskStateName(st)) return st;
  return std::nullopt;
}

bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled ||
         s == JobState::kTimeout || s == JobState::kOom;
}

bool IsTerminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kCancelled || s == TaskState::kTimeout;
}

Status CheckTransition(TaskState from, TaskState to) {
  using T = TaskState;
  bool ok = false;
  switch (from) {
    case T::kPending: ok = to == T::kLaunching || to == T::kCancelled; break;
    case T::kLaunching:
      ok = to == T::kRunning || to == T::kFailed || to == T::kCancelled || to == T::kLost ||
           to == T::kPending || to == T::kSucceeded || to == T::kTimeout || to == T::kOom;
      break;
    case T::kRunning:  // -> kPending: requeued (a retry, a lost node's requeue, a migration, a
                       // checkpointable job's timeout)
      ok = to == T::kSucceeded || to == T::kFailed || to == T::kCancelled || to == T::kLost ||
           to == T::kPending || to == T::kTimeout || to == T::kOom;
      break;
    case T::kFailed:
    case T::kOom:
    case T::kLost: ok = to == T::kPending || to == T::kCancelled; break;
    case T::kSucceeded:
    case T::kCancelled:
    case T::kTimeout: ok = false; break;
  }
  if (ok) return Status::Ok();
  return Status::FailedPrecondition(std::string("illegal task transition ") + TaskStateName(from) +
                                    " -> " + TaskStateName(to));
}

Status CheckTransition(JobState from, JobState to) {
  using J = JobState;
  bool ok = false;
  switch (from) {
    case J::kPending: ok = to == J::kRunning || to == J::kCancelled || to == J::kFailed; break;
    case J::kRunning:
      ok = to == J::kSucceeded || to == J::kFailed || to == J::kCancelled || to == J::kPending ||
           to == J::kTimeout || to == J::kOom;
      break;
    default: ok = false;
  }
  if (ok) return Status::Ok();
  return Status::FailedPrecondition(std::string("illegal job transition ") + JobStateName(from) +
                                    " -> " + JobStateName(to));
}

}  // namespace muster
