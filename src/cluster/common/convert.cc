#include "cluster/common/convert.h"

#include <charconv>
#include <iterator>
#include <string_view>
#include <utility>

namespace muster::cluster {

void ToProto(const ResourceRequest& in, v1::ResourceRequest* out) {
  out->set_milli_cpus(in.milli_cpus);
  out->set_memory_mib(in.memory_mib);
  out->set_gpus(in.gpus);
  out->set_min_gpu_memory_mib(in.min_gpu_memory_mib);
  out->set_gpu_model(in.gpu_model);
}

ResourceRequest FromProto(const v1::ResourceRequest& in) {
  ResourceRequest r;
  r.milli_cpus = in.milli_cpus();
  r.memory_mib = in.memory_mib();
  r.gpus = in.gpus();
  r.min_gpu_memory_mib = in.min_gpu_memory_mib();
  r.gpu_model = in.gpu_model();
  return r;
}

std::string FormatArrayRange(const ArrayRange& r) {
  if (r.empty()) return "";
  std::string s = std::to_string(r.first) + "-" + std::to_string(r.last);
  if (r.throttle > 0) s += "%" + std::to_string(r.throttle);
  return s;
}

std::string FormatArrayRange(const v1::JobSpec& spec) {
  if (!spec.has_array()) return "";
  const v1::ArrayRange& a = spec.array();
  ArrayRange r{.first = a.first(), .last = a.last(), .throttle = a.throttle()};
  return r.empty() ? std::to_string(a.first()) + "-" + std::to_string(a.last())
                   : FormatArrayRange(r);
}

void ToProto(const JobSpec& in, v1::JobSpec* out) {
  out->Clear();
  out->set_name(in.name);
  out->set_user(in.user);
  out->set_job_class(in.job_class);
  for (const auto& c : in.command) out->add_command(c);
  for (const auto& [k, v] : in.env) (*out->mutable_env())[k] = v;
  out->set_workdir(in.workdir);
  out->set_tasks(in.tasks);
  out->set_gang(in.gang);
  out->set_ranks_per_node(in.ranks_per_node);
  if (!in.array.empty()) {
    v1::ArrayRange* a = out->mutable_array();
    a->set_first(in.array.first);
    a->set_last(in.array.last);
    a->set_throttle(in.array.throttle);
  }
  for (JobId a : in.after) out->add_after(a);
  for (JobId a : in.after_any) out->add_after_any(a);
  for (JobId a : in.after_notok) out->add_after_notok(a);
  out->set_singleton(in.singleton);
  out->set_hold(in.hold);
  out->set_priority(in.priority);
  ToProto(in.resources, out->mutable_resources());
  out->set_est_work(in.est_work);
  out->set_est_time_s(in.est_time_s);
  out->set_checkpointable(in.checkpointable);
  out->set_max_retries(in.max_retries);
  out->set_memory_given(in.memory_given);
  out->set_cancel_on_preempt(in.cancel_on_preempt);
  out->set_output_pattern(in.output_pattern);
  out->set_error_pattern(in.error_pattern);
  out->set_request_id(in.request_id);
  out->set_log_limit_mib(in.log_limit_mib);
  out->set_time_limit_ms(in.time_limit_ms);
  out->set_signal_grace_ms(in.signal_grace_ms);
  out->set_requeue_on_timeout(in.requeue_on_timeout);
}

Result<JobSpec> FromProto(const v1::JobSpec& in) {
  JobSpec s;
  s.name = in.name();
  s.user = in.user();
  s.job_class = in.job_class();
  s.command.assign(in.command().begin(), in.command().end());
  for (const auto& [k, v] : in.env()) s.env[k] = v;
  s.workdir = in.workdir();
  s.tasks = in.tasks() == 0 ? 1 : in.tasks();
  s.gang = in.gang();
  s.ranks_per_node = in.ranks_per_node();
  if (!in.legacy_array().empty())
    return Status::InvalidArgument(
        "the array range came as text ('" + in.legacy_array() +
        "'), as a muster client older than this coordinator sends it: submit with this "
        "version's client");
  if (in.has_array()) {
    const v1::ArrayRange& a = in.array();
    auto r = CheckArrayRange(a.first(), a.last(), a.throttle());
    if (!r.ok())
      return Status::InvalidArgument("array range " + FormatArrayRange(in) + " " +
                                     r.status().message());
    s.array = *r;
  }
  s.after.assign(in.after().begin(), in.after().end());
  s.after_any.assign(in.after_any().begin(), in.after_any().end());
  s.after_notok.assign(in.after_notok().begin(), in.after_notok().end());
  s.singleton = in.singleton();
  s.hold = in.hold();
  s.priority = in.priority();
  if (in.has_resources()) s.resources = FromProto(in.resources());
  s.est_work = in.est_work();
  s.est_time_s = in.est_time_s();
  s.checkpointable = in.checkpointable();
  s.max_retries = in.max_retries();
  s.memory_given = in.memory_given();
  s.cancel_on_preempt = in.cancel_on_preempt();
  s.output_pattern = in.output_pattern();
  s.error_pattern = in.error_pattern();
  s.request_id = in.request_id();
  s.log_limit_mib = in.log_limit_mib();
  s.time_limit_ms = in.time_limit_ms();
  s.signal_grace_ms = in.signal_grace_ms();
  s.requeue_on_timeout = in.requeue_on_timeout();
  return s;
}

namespace {

constexpr std::pair<JobState, v1::JobState> kJobStates[] = {
    {JobState::kPending, v1::JOB_STATE_PENDING},     {JobState::kRunning, v1::JOB_STATE_RUNNING},
    {JobState::kSucceeded, v1::JOB_STATE_SUCCEEDED}, {JobState::kFailed, v1::JOB_STATE_FAILED},
    {JobState::kCancelled, v1::JOB_STATE_CANCELLED}, {JobState::kTimeout, v1::JOB_STATE_TIMEOUT},
    {JobState::kOom, v1::JOB_STATE_OOM},
};
constexpr std::pair<TaskState, v1::TaskState> kTaskStates[] = {
    {TaskState::kPending, v1::TASK_STATE_PENDING},
    {TaskState::kLaunching, v1::TASK_STATE_LAUNCHING},
    {TaskState::kRunning, v1::TASK_STATE_RUNNING},
    {TaskState::kSucceeded, v1::TASK_STATE_SUCCEEDED},
    {TaskState::kFailed, v1::TASK_STATE_FAILED},
    {TaskState::kCancelled, v1::TASK_STATE_CANCELLED},
    {TaskState::kLost, v1::TASK_STATE_LOST},
    {TaskState::kTimeout, v1::TASK_STATE_TIMEOUT},
    {TaskState::kOom, v1::TASK_STATE_OOM},
};
static_assert(std::size(kJobStates) == static_cast<size_t>(JobState::kOom) + 1 &&
                  std::size(kJobStates) == v1::JobState_ARRAYSIZE - 1,
              "every core job state has its wire state, and no more");
static_assert(std::size(kTaskStates) == kTaskStateCount &&
                  std::size(kTaskStates) == v1::TaskState_ARRAYSIZE - 1,
              "every core task state has its wire state, and no more");

template <typename Core, typename Wire, size_t N>
Wire ToWire(const std::pair<Core, Wire> (&table)[N], Core s) {
  for (const auto& [core, wire] : table)
    if (core == s) return wire;
  return Wire{};  // not reached: the tables hold every core state
}

template <typename Core, typename Wire, size_t N>
std::optional<Core> FromWire(const std::pair<Core, Wire> (&table)[N], Wire s) {
  for (const auto& [core, wire] : table)
    if (wire == s) return core;
  return std::nullopt;
}

}  // namespace

v1::JobState ToProto(JobState s) { return ToWire(kJobStates, s); }
v1::TaskState ToProto(TaskState s) { return ToWire(kTaskStates, s); }

Result<JobState> FromProto(v1::JobState s) {
  if (auto core = FromWire(kJobStates, s)) return *core;
  return Status::InvalidArgument("job state " + std::to_string(static_cast<int>(s)) +
                                 " is not one this coordinator knows");
}

Result<TaskState> FromProto(v1::TaskState s) {
  if (auto core = FromWire(kTaskStates, s)) return *core;
  return Status::InvalidArgument("task state " + std::to_string(static_cast<int>(s)) +
                                 " is not one this coordinator knows");
}

const char* StateName(v1::JobState s) {
  auto core = FromWire(kJobStates, s);
  return core ? JobStateName(*core) : "unknown";
}

const char* StateName(v1::TaskState s) {
  auto core = FromWire(kTaskStates, s);
  return core ? TaskStateName(*core) : "unknown";
}

std::optional<v1::JobState> ParseWireJobState(const std::string& name) {
  auto core = ParseJobState(name);
  if (!core) return std::nullopt;
  return ToProto(*core);
}

std::optional<v1::TaskState> ParseWireTaskState(const std::string& name) {
  auto core = ParseTaskState(name);
  if (!core) return std::nullopt;
  return ToProto(*core);
}

void ToProto(const GpuDevice& in, v1::GpuDevice* out) {
  out->set_index(in.index);
  out->set_model(in.model);
  out->set_memory_mib(in.memory_mib);
  out->set_is_virtual(in.is_virtual);
  out->set_uuid(in.uuid);
  out->set_utilization(-1);
  out->set_power_w(-1);
  out->set_memory_used_mib(-1);
}

GpuDevice FromProto(const v1::GpuDevice& in) {
  GpuDevice g;
  g.index = in.index();
  g.model = in.model();
  g.memory_mib = in.memory_mib();
  g.is_virtual = in.is_virtual();
  g.uuid = in.uuid();
  return g;
}

void ToProto(const NodeSpec& in, v1::NodeSpec* out, const std::string& address) {
  out->Clear();
  out->set_name(in.name);
  out->set_milli_cpus(in.milli_cpus);
  out->set_memory_mib(in.memory_mib);
  for (const auto& g : in.gpus) ToProto(g, out->add_gpus());
  out->set_speed(in.speed);
  out->set_address(address);
}

NodeSpec FromProto(const v1::NodeSpec& in) {
  NodeSpec n;
  n.name = in.name();
  n.milli_cpus = in.milli_cpus();
  n.memory_mib = in.memory_mib();
  for (const auto& g : in.gpus()) n.gpus.push_back(FromProto(g));
  n.speed = in.speed() > 0 ? in.speed() : 1.0;
  return n;
}

void ToProto(const ProgressLine& in, TimeMs time_ms, v1::Progress* out) {
  out->Clear();
  out->set_done(in.done);
  out->set_total(in.total);
  for (const auto& [k, v] : in.fields) (*out->mutable_fields())[k] = v;
  out->set_time_ms(time_ms);
}

void ToProto(const LaunchSpec& in, v1::Launch* out) {
  out->set_job_id(in.job);
  out->set_task_index(in.task_index);
  out->set_attempt(in.attempt);
  for (const auto& c : in.command) out->add_command(c);
  out->set_workdir(in.workdir);
  for (int g : in.gpus) out->add_gpus(g);
  for (const auto& [k, v] : in.env) (*out->mutable_env())[k] = v;
  out->set_log_limit_bytes(in.log_limit_bytes);
  out->set_user(in.user);
  out->set_allow_root(in.allow_root);
  out->set_checkpoint_dir(in.checkpoint_dir);
  out->set_time_limit_ms(in.time_limit_ms);
  out->set_signal_grace_ms(in.signal_grace_ms);
  out->set_stop_reason_file(in.stop_reason_file);
  out->set_memory_bytes(in.memory_bytes);
  out->set_milli_cpus(in.milli_cpus);
  out->set_stdout_path(in.stdout_path);
  out->set_stderr_path(in.stderr_path);
}

LaunchSpec FromProto(const v1::Launch& in) {
  LaunchSpec l;
  l.job = in.job_id();
  l.task_index = in.task_index();
  l.attempt = in.attempt();
  l.command.assign(in.command().begin(), in.command().end());
  l.workdir = in.workdir();
  l.gpus.assign(in.gpus().begin(), in.gpus().end());
  l.env.insert(in.env().begin(), in.env().end());
  l.log_limit_bytes = in.log_limit_bytes();
  l.user = in.user();
  l.allow_root = in.allow_root();
  l.checkpoint_dir = in.checkpoint_dir();
  l.time_limit_ms = in.time_limit_ms();
  l.signal_grace_ms = in.signal_grace_ms();
  l.stop_reason_file = in.stop_reason_file();
  l.memory_bytes = in.memory_bytes();
  l.milli_cpus = in.milli_cpus();
  l.stdout_path = in.stdout_path();
  l.stderr_path = in.stderr_path();
  return l;
}

bool CarriesMusterCode(const grpc::Status& s) {
  return s.error_details().starts_with(kStatusDetail);
}

grpc::Status ToGrpcStatus(const Status& s) {
  using G = grpc::StatusCode;
  G code = G::OK;
  switch (s.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      code = G::INVALID_ARGUMENT;
      break;
    case StatusCode::kNotFound:
      code = G::NOT_FOUND;
      break;
    case StatusCode::kAlreadyExists:
      code = G::ALREADY_EXISTS;
      break;
    case StatusCode::kUnschedulable:
      code = G::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kInfeasible:
      code = G::FAILED_PRECONDITION;
      break;
    case StatusCode::kFailedPrecondition:
      code = G::FAILED_PRECONDITION;
      break;
    case StatusCode::kUnavailable:
      code = G::UNAVAILABLE;
      break;
    case StatusCode::kInternal:
      code = G::INTERNAL;
      break;
    case StatusCode::kPermissionDenied:
      code = G::PERMISSION_DENIED;
      break;
    case StatusCode::kUnauthenticated:
      code = G::UNAUTHENTICATED;
      break;
  }
  return grpc::Status(code, s.message(),
                      std::string(kStatusDetail) + std::to_string(static_cast<int>(s.code())));
}

Status FromGrpcStatus(const grpc::Status& s) {
  using G = grpc::StatusCode;
  if (s.ok()) return Status::Ok();
  const std::string& d = s.error_details();
  if (d.starts_with(kStatusDetail)) {
    int n = -1;
    const char* first = d.data() + kStatusDetail.size();
    auto [end, ec] = std::from_chars(first, d.data() + d.size(), n);
    if (ec == std::errc() && end == d.data() + d.size() && n > static_cast<int>(StatusCode::kOk) &&
        n <= static_cast<int>(kLastStatusCode))
      return Status(static_cast<StatusCode>(n), s.error_message());
  }
  switch (s.error_code()) {
    case G::INVALID_ARGUMENT:
    case G::OUT_OF_RANGE:
      return Status::InvalidArgument(s.error_message());
    case G::NOT_FOUND:
      return Status::NotFound(s.error_message());
    case G::ALREADY_EXISTS:
      return Status::AlreadyExists(s.error_message());
    case G::FAILED_PRECONDITION:
      return Status::FailedPrecondition(s.error_message());
    case G::UNAVAILABLE:
    case G::DEADLINE_EXCEEDED:
    case G::CANCELLED:
    case G::RESOURCE_EXHAUSTED:
      return Status::Unavailable(s.error_message());
    case G::PERMISSION_DENIED:
      return Status::PermissionDenied(s.error_message());
    case G::UNAUTHENTICATED:
      return Status::Unauthenticated(s.error_message());
    default:
      return Status::Internal(s.error_message());
  }
}

}  // namespace muster::cluster

namespace muster::v1 {

std::ostream& operator<<(std::ostream& os, JobState s) { return os << cluster::StateName(s); }
std::ostream& operator<<(std::ostream& os, TaskState s) { return os << cluster::StateName(s); }

}  // namespace muster::v1
