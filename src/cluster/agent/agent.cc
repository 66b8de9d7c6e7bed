// See agent.h.
#include "cluster/agent/agent.h"
#include "cluster/agent/task_user.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <random>
#include <thread>

#include "cluster/agent/task_list.h"
#include "cluster/common/convert.h"
#include "cluster/common/coordinator_list.h"

namespace muster::agent {

namespace {

constexpr size_t kMaxExitsKept = 1024;
constexpr int64_t kExitKeepMs = 5 * 60 * 1000;

}  // namespace

std::string LocalAddressFor(const std::string& target) {
  std::string host = target, port = "0";
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) return "";
    if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
    host = host.substr(1, close - 1);
  } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return "";
  std::string out;
  // A UDP connect picks the route (and local address) without sending anything.
  int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    char buf[INET6_ADDRSTRLEN] = {};
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      if (local.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&local)->sin_addr, buf, sizeof buf);
      else if (local.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr, buf, sizeof buf);
      out = buf;
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  if (out == "::1" || out.rfind("127.", 0) == 0) out = "127.0.0.1";
  return out;
}

Agent::Agent(AgentOptions options)
    : options_(std::move(options)), heartbeat_ms_(options_.heartbeat_ms) {}

Agent::~Agent() {
  launches_.reset();  // runs what is queued (refused once stopping), joins the workers
  launcher_.reset();  // stops any task still running before the sink goes away
  if (cgroups_) cgroups_->RemoveRoot();
}

Result<std::unique_ptr<Agent>> Agent::Create(AgentOptions options) {
  if (options.discovery.name.empty()) return Status::InvalidArgument("the agent needs a --name");
  if (options.work_dir.empty()) return Status::InvalidArgument("the agent needs a --work-dir");
  if (options.heartbeat_ms <= 0) return Status::InvalidArgument("--heartbeat must be positive");
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir + "/logs", ec);
  if (ec)
    return Status::InvalidArgument("cannot create the work dir '" + options.work_dir +
                                   "': " + ec.message());
  options.work_dir = std::filesystem::absolute(options.work_dir).lexically_normal().string();
  // Task logs live here: the agent's alone (the coordinator serves them to their owners).
  std::filesystem::permissions(options.work_dir, std::filesystem::perms::owner_all, ec);
  std::filesystem::permissions(options.work_dir + "/logs", std::filesystem::perms::owner_all, ec);
  auto coordinators = cluster::ParseCoordinatorList(options.coordinator);
  if (!coordinators.ok()) return coordinators.status();
  std::unique_ptr<Agent> a(new Agent(std::move(options)));
  a->coordinators_ = std::move(coordinators).value();
  if (a->options_.discovery.virtual_gpus < 0) a->driver_ = GpuDriver::Load();
  auto node = DiscoverNode(a->options_.discovery, a->driver_.get());
  if (!node.ok()) return node.status();
  a->node_ = std::move(*node);
  if (a->node_.address.empty()) a->node_.address = LocalAddressFor(a->coordinators_.front());
  if (a->node_.address.empty()) a->node_.address = "127.0.0.1";
  // The keeper a crashed predecessor left, with the tasks it still holds; or a new one.
  const std::string agent_id = CgroupAgentId(a->options_.discovery.name, a->options_.work_dir);
  auto keeper = TaskKeeper::Start(agent_id, a->options_.stop_grace_ms);
  if (!keeper.ok()) return keeper.status();
  a->keeper_ = std::move(keeper).value();
  std::vector<AdoptedTask> adopted = a->keeper_->TakeAdopted();
  std::set<int> adopted_pids;
  std::set<std::string> adopted_cgroups;
  for (const auto& t : adopted) {
    adopted_pids.insert(t.pid);
    if (t.info.cgroup[0] != '\0') adopted_cgroups.insert(t.info.cgroup);
  }
  // Tasks a crashed predecessor left behind that no keeper holds (it died too) would run beside
  // the coordinator's next attempt.
  const std::string task_list = a->options_.work_dir + "/tasks.running";
  const auto leftovers = KillLeftoverTasks(task_list, "/proc", adopted_pids);
  for (const auto& t : leftovers) {
    spdlog::warn("killed job {} task {} attempt {} (pid {}), left running by a previous agent",
                 t.job_id, t.task_index, t.attempt, t.pid);
    v1::TaskEvent e;
    e.set_job_id(t.job_id);
    e.set_task_index(t.task_index);
    e.set_attempt(t.attempt);
    e.set_state(v1::TASK_STATE_LOST);
    e.set_exit_code(128 + SIGKILL);
    e.set_message("killed when its agent restarted after a crash");
    e.set_time_ms(WallMs());
    a->exits_.push_back({e, false, 0});
  }
  if (auto tree = CgroupTree::Open(agent_id); tree.ok()) {
    a->cgroups_.emplace(std::move(tree).value());
    a->containment_ = "tasks in their own cgroups (" + a->cgroups_->Describe() + ")";
    // Cgroups of attempts a previous agent of this name left behind: nothing of them may run on.
    for (const std::string& name : a->cgroups_->List()) {
      if (adopted_cgroups.contains(name)) continue;
      const size_t n = a->cgroups_->Procs(name).size();
      const bool empty = a->cgroups_->Kill(name);
      a->cgroups_->Remove(name);
      if (n > 0)
        spdlog::warn("killed {} process(es) left in cgroup {} by a previous agent{}", n, name,
                     empty ? "" : " (some would not die)");
    }
  } else {
    a->containment_ = "process group only: " + tree.status().message();
    spdlog::warn("tasks contained by {}", a->containment_);
  }
  LauncherOptions lo{.work_dir = a->options_.work_dir,
                     .task_list_path = task_list,
                     .keeper = a->keeper_.get(),
                     .cgroups = a->cgroups_ ? &*a->cgroups_ : nullptr,
                     .task_pids_max = a->options_.task_pids_max};
  std::vector<int> real_gpus;
  if (a->driver_ && a->driver_->backend() != GpuBackend::kNone) {
    for (const auto& g : a->node_.spec.gpus) {
      real_gpus.push_back(g.index);
      // Device isolation: a task opens only its own GPUs' /dev/nvidia<minor>.
      if (g.minor >= 0) lo.gpu_minors[g.index] = g.minor;
    }
    if (lo.gpu_minors.size() != a->node_.spec.gpus.size()) lo.gpu_minors.clear();  // all or none
    // NVML numbers GPUs in PCI bus order; make CUDA in the tasks agree.
    if (a->driver_->backend() == GpuBackend::kNvml && !std::getenv("CUDA_DEVICE_ORDER"))
      lo.extra_env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID";
  }
  a->sampler_ = std::make_unique<UsageSampler>("/proc", a->driver_.get(), real_gpus);
  a->launcher_ = std::make_unique<Launcher>(std::move(lo), a.get());
  for (const auto& t : leftovers) a->launcher_->NoteAttempt(t.job_id, t.task_index, t.attempt);
  if (!adopted.empty())
    spdlog::info("took over {} task(s) from the agent that ran here before (task keeper pid {})",
                 a->launcher_->Adopt(std::move(adopted)), a->keeper_->keeper_pid());
  Agent* self = a.get();
  a->launches_ = std::make_unique<LaunchPool>(
      [self](const v1::Launch& l) { self->StartLaunch(l); },
      [self](const v1::Launch& l, int64_t grace_ms) {
        (void)self->launcher_->Kill(l.job_id(), l.task_index(), l.attempt(), grace_ms);
      });
  return a;
}

std::string Agent::Describe() const {
  std::string gpus = "no GPUs";
  if (!node_.spec.gpus.empty())
    gpus = std::to_string(node_.spec.gpus.size()) + " GPUs (" +
           (node_.spec.gpus[0].is_virtual ? std::string("virtual") : node_.spec.gpus[0].model) +
           ", " + std::to_string(node_.spec.gpus[0].memory_mib) + " MiB)";
  return node_.spec.name + " at " + node_.address + ": " + FormatMilliCpus(node_.spec.milli_cpus) +
         " CPUs, " + std::to_string(node_.spec.memory_mib) + " MiB, " + gpus +
         (driver_ ? std::string(", driver ") + GpuBackendName(driver_->backend()) : "") + "; " +
         containment_ + "; " +
         (geteuid() == 0 ? std::string("tasks run as their owners")
                         : "runs only " + OnlyUser(geteuid()) + "'s tasks (not root)");
}

v1::Register Agent::BuildRegister() {
  v1::Register r;
  cluster::ToProto(node_.spec, r.mutable_node(), node_.address);
  r.set_agent_version("0.1.0");
  r.set_protocol(cluster::kWireProtocol);
  r.set_containment(cgroups_ ? cgroups_->Describe() : containment_);
  r.set_only_user(OnlyUser(geteuid()));
  for (const auto& t : launcher_->Running()) {
    v1::RunningTaskReport* rt = r.add_running();
    rt->set_job_id(t.job_id);
    rt->set_task_index(t.task_index);
    rt->set_attempt(t.attempt);
    rt->set_pid(t.pid);
    rt->set_start_ms(t.start_ms);
  }
  return r;
}

// ---------------------------------------------------------------- TaskSink

void Agent::OnEvent(const v1::TaskEvent& e) {
  std::lock_guard lock(mu_);
  if (e.state() == v1::TASK_STATE_RUNNING) {
    v1::AgentMessage m;
    *m.mutable_event() = e;
    outbox_.push_back(std::move(m));
  } else {
    exits_.push_back({e, false, 0});
    const int64_t now = WallMs();
    while (!exits_.empty() && exits_.front().sent &&
           (exits_.size() > kMaxExitsKept || exits_.front().sent_ms < now - kExitKeepMs))
      exits_.pop_front();
  }
  cv_.notify_all();
}

void Agent::OnLog(const v1::TaskLog& l) {
  std::lock_guard lock(mu_);
  if (outbox_log_bytes_ + l.data().size() > options_.max_buffered_log_bytes) {
    dropped_log_bytes_ += l.data().size();
    return;
  }
  outbox_log_bytes_ += l.data().size();
  v1::AgentMessage m;
  *m.mutable_log() = l;
  outbox_.push_back(std::move(m));
  cv_.notify_all();
}

void Agent::OnProgress(const v1::TaskProgress& p) {
  std::lock_guard lock(mu_);
  progress_[{p.job_id(), p.task_index(), p.attempt()}] = p;
  cv_.notify_all();
}

}  // namespace muster::agent
