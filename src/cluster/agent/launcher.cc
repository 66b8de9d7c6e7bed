// See launcher.h.
#include "cluster/agent/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <optional>

#include "cluster/agent/cgroup_pool.h"
#include "cluster/agent/launcher_task.h"
#include "cluster/agent/spawn.h"
#include "cluster/agent/task_cgroup.h"
#include "cluster/agent/task_keeper.h"
#include "cluster/agent/task_list.h"
#include "cluster/agent/task_user.h"

extern char** environ;

namespace muster::agent {

int Launcher::PruneLogs(int64_t before_ms) {
  std::set<std::string> keep;  // "<job>.<task>.<attempt>." of the tasks still here
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, t] : tasks_)
      keep.insert(std::to_string(std::get<0>(key)) + "." + std::to_string(std::get<1>(key)) +
                  "." + std::to_string(std::get<2>(key)) + ".");
  }
  int removed = 0;
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() -
                      std::chrono::milliseconds(std::max<int64_t>(0, WallMs() - before_ms));
  for (const auto& e : std::filesystem::directory_iterator(options_.work_dir + "/logs", ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string name = e.path().filename().string();
    bool running = false;
    for (const auto& k : keep) running = running || name.rfind(k, 0) == 0;
    if (running || e.last_write_time(ec) >= cutoff || ec) continue;
    if (std::filesystem::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

int Stream::File() {
  if (file >= 0 || path.empty()) return file;
  file = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (file < 0 && errno == ENOENT) {  // the logs directory: made once, when first needed
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    file = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }
  if (file < 0) path.clear();  // do not retry on every read
  if (file >= 0 && owner_uid >= 0 && fchown(file, owner_uid, owner_gid) != 0)
    spdlog::warn("cannot give {} to uid {}: {}", path, owner_uid, std::strerror(errno));
  return file;
}

void Stream::Resume() {
  struct stat st {};
  if (limit <= 0 || path.empty() || stat(path.c_str(), &st) != 0) return;
  head = std::min<int64_t>(st.st_size, HeadBytes());
  // Past its head: the ring file holds the tail so far (its exact fill is not known: the ring
  // is taken as full once it has wrapped, as it has if it is at its size).
  const std::string tail = path + ".tail";
  if (stat(tail.c_str(), &st) != 0) return;
  ring = open(tail.c_str(), O_RDWR | O_CLOEXEC);
  if (ring >= 0) ring_total = std::max<int64_t>(1, st.st_size);
}

void Stream::Emit(const char* p, size_t n, int64_t now) {
  launcher_internal::WriteAll(File(), p, n);
  if (pending.empty()) pending_since = now;
  pending.append(p, n);
}

void Stream::Accept(const char* p, size_t n, int64_t now) {
  // The task's own copy gets every byte, as sbatch's file would: the log limit is muster's.
  if (copy >= 0) launcher_internal::WriteAll(copy, p, n);
  if (limit <= 0) return Emit(p, n, now);
  const int64_t room = std::max<int64_t>(0, HeadBytes() - head);
  const size_t first = static_cast<size_t>(std::min<int64_t>(room, static_cast<int64_t>(n)));
  if (first > 0) {
    Emit(p, first, now);
    head += static_cast<int64_t>(first);
  }
  if (first == n) return;
  p += first;
  n -= first;
  const int64_t cap = TailBytes();
  if (ring_total == 0) {
    const std::string note = "\n[muster: this stream reached its log limit of " +
                             std::to_string(limit) + " bytes; only its last " +
                             std::to_string(cap) + " bytes will be kept, shown when it ends]\n";
    Emit(note.data(), note.size(), now);
    if (!path.empty())
      ring = open((path + ".tail").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ring >= 0 && owner_uid >= 0 && fchown(ring, owner_uid, owner_gid) != 0)
      spdlog::warn("cannot give {}.tail to uid {}: {}", path, owner_uid, std::strerror(errno));
  }
  // Only the last `cap` bytes of this chunk can matter.
  if (static_cast<int64_t>(n) > cap) {
    ring_total += static_cast<int64_t>(n) - cap;
    p += n - static_cast<size_t>(cap);
    n = static_cast<size_t>(cap);
  }
  while (n > 0 && ring >= 0) {
    const int64_t at = ring_total % cap;
    const size_t part = static_cast<size_t>(std::min<int64_t>(cap - at, static_cast<int64_t>(n)));
    if (pwrite(ring, p, part, at) != static_cast<ssize_t>(part)) break;
    ring_total += static_cast<int64_t>(part);
    p += part;
    n -= part;
  }
  ring_total += static_cast<int64_t>(n);  // what could not be written is dropped too
}

void Stream::Finish(int64_t now) {
  if (ring_total == 0) return;
  const int64_t cap = TailBytes();
  const int64_t kept = std::min(ring_total, cap);
  std::string tail(static_cast<size_t>(kept), '\0');
  const int64_t start = ring_total > cap ? ring_total % cap : 0;
  const int64_t first = std::min(kept, cap - start);
  bool ok = ring >= 0 && pread(ring, tail.data(), first, start) == first &&
            (kept == first || pread(ring, tail.data() + first, kept - first, 0) == kept - first);
  if (!ok) tail.clear();
  const int64_t dropped = ring_total - static_cast<int64_t>(tail.size());
  const std::string note = "\n[muster: " + std::to_string(dropped) +
                           " bytes of output dropped here (log limit " + std::to_string(limit) +
                           " bytes); the last " + std::to_string(tail.size()) + " follow]\n";
  Emit(note.data(), note.size(), now);
  if (!tail.empty()) Emit(tail.data(), tail.size(), now);
  if (ring >= 0) {
    close(ring);
    ring = -1;
    unlink((path + ".tail").c_str());
  }
  ring_total = 0;
}

namespace launcher_internal {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int PidfdOpen(int pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  return -1;
#endif
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0 && fd >= 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

bool WriteStopReason(const std::string& path, const std::string& reason, int uid, int gid) {
  const std::filesystem::path p(path);
  const std::string dir = p.parent_path().string(), name = p.filename().string();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (uid >= 0 && chown(dir.c_str(), uid, gid) != 0)
      spdlog::warn("cannot give {} to uid {}: {}", dir, uid, std::strerror(errno));
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    spdlog::warn("cannot write the stop reason to {}: {}", path, std::strerror(errno));
    return false;
  }
  const std::string tmp = name + ".new";
  unlinkat(dfd, tmp.c_str(), 0);
  int fd = openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  if (ok) {
    if (uid >= 0 && fchown(fd, uid, gid) != 0) ok = false;
    const std::string line = reason + "\n";
    ok = ok && write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(fd);
    ok = ok && renameat(dfd, tmp.c_str(), dfd, name.c_str()) == 0;
    if (!ok) unlinkat(dfd, tmp.c_str(), 0);
  }
  if (!ok) spdlog::warn("cannot write the stop reason to {}: {}", path, std::strerror(errno));
  close(dfd);
  return ok;
}

// Gives the checkpoint directory the coordinator assigned to the task's user. Only that path
// (never one a job names in its env: as root, that could hand /etc to a user), only a directory
// root owns or one made here, and through a descriptor opened without following links, so a
// symbolic link swapped in cannot redirect the chown.
void PrepareOwnedDir(const std::string& dir, uid_t uid, gid_t gid) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("cannot create {}: {}", dir, std::strerror(errno));
    return;
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("cannot open {}: {}", dir, std::strerror(errno));
    return;
  }
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_uid == 0 &&
      (fchown(fd, uid, gid) != 0 || fchmod(fd, 0700) != 0))
    spdlog::warn("cannot give {} to uid {}: {}", dir, uid, std::strerror(errno));
  close(fd);
}

}  // namespace launcher_internal

using namespace launcher_internal;

Launcher::Launcher(LauncherOptions options, TaskSink* sink)
    : options_(std::move(options)), sink_(sink) {
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  if (options_.cgroups)
    cgroup_pool_ = std::make_unique<CgroupPool>(options_.cgroups, options_.cgroup_reuse);
  if (options_.keeper)
    options_.keeper->SetHandlers(
        [this](int pid, int wait_status, bool fenced) { OnKeeperExit(pid, wait_status, fenced); },
        [this] { OnKeeperLost(); });
  supervisor_ = std::thread([this] { Supervise(); });
}

void Launcher::OnKeeperLost() {
  {
    std::lock_guard lock(mu_);
    spdlog::error("the node's task keeper (pid {}) is gone: stopping all {} task(s); new launches "
                  "are refused until this agent is restarted",
                  options_.keeper->keeper_pid(), tasks_.size());
    for (auto& [key, t] : tasks_) {
      if (t->keeper_exit) continue;
      kill(-t->pid, SIGKILL);  // nobody would reap or fence them now
      KillCgroup(*t);
      t->keeper_exit = true;
      t->wait_status = SIGKILL;  // as a wait status: killed by SIGKILL
      t->agent_stop = true;      // reported lost, so that the coordinator runs it again
    }
  }
  Wake();
}

void Launcher::OnKeeperExit(int pid, int wait_status, bool fenced) {
  {
    std::lock_guard lock(mu_);
    Task* task = nullptr;
    for (auto& [key, t] : tasks_)
      if (t->pid == pid && !t->keeper_exit) task = t.get();
    if (task == nullptr) {  // its launch has not recorded it yet
      early_exits_[pid] = {wait_status, fenced};
      return;
    }
    task->keeper_exit = true;
    task->wait_status = wait_status;
    task->fenced = fenced;
  }
  Wake();
}

Launcher::~Launcher() {
  StopAll(options_.default_grace_ms);
  if (options_.keeper) options_.keeper->SetHandlers(nullptr, nullptr);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
  supervisor_.join();
  CloseFd(wake_fds_[0]);
  CloseFd(wake_fds_[1]);
}

void Launcher::Wake() {
  char c = 1;
  if (wake_fds_[1] >= 0) {
    ssize_t w = write(wake_fds_[1], &c, 1);
    (void)w;
  }
}

void Launcher::NoteAttempt(int64_t job_id, int32_t task_index, int64_t attempt) {
  std::lock_guard lock(mu_);
  auto& last = last_attempt_[{job_id, task_index}];
  last = std::max(last, attempt);
}

Status Launcher::Launch(const v1::Launch& l) {
  if (l.command().empty() || l.command(0).empty())
    return Status::InvalidArgument("launch of job " + std::to_string(l.job_id()) + " task " +
                                   std::to_string(l.task_index()) + " has an empty command");
  const std::string what = "job " + std::to_string(l.job_id()) + " task " +
                           std::to_string(l.task_index()) + " attempt " +
                           std::to_string(l.attempt());
  // Who it runs as; the environment starts from that user's, never the agent's own.
  auto user = ResolveTaskUser(l.user(), l.allow_root(), geteuid());
  if (!user.ok()) return Status(user.status().code(), what + ": " + user.status().message());
  std::map<std::string, std::string> env =
      options_.base_env.empty() ? BaseTaskEnv(*user, environ) : options_.base_env;
  for (const auto& [k, v] : options_.extra_env) env[k] = v;
  for (const auto& [k, v] : l.env()) env[k] = v;
  if (!l.env().contains("CUDA_VISIBLE_DEVICES")) {
    std::string ids;
    for (int g : l.gpus()) ids += (ids.empty() ? "" : ",") + std::to_string(g);
    env["CUDA_VISIBLE_DEVICES"] = ids;
  }
  SpawnRequest req;
  req.argv.assign(l.command().begin(), l.command().end());
  for (const auto& [k, v] : env) req.env.push_back(k + "=" + v);
  if (user->switch_user) {
    req.set_user = true;
    req.uid = user->uid;
    req.gid = user->gid;
    req.groups = user->groups;
    // The job's checkpoint directory belongs to the task's user, and to nobody else.
    if (!l.checkpoint_dir().empty()) PrepareOwnedDir(l.checkpoint_dir(), user->uid, user->gid);
  }
  // No working directory given (the CLI always sends one): the agent's own for its own user's
  // tasks; another user's home, since the agent's work dir is not theirs to enter.
  req.cwd = !l.workdir().empty() ? l.workdir()
            : user->switch_user && !user->home.empty() ? user->home
                                                       : options_.work_dir;

  auto task = std::make_unique<Task>();
  task->job_id = l.job_id();
  task->task_index = l.task_index();
  task->attempt = l.attempt();
  {
    std::unique_lock lock(mu_);
    if (stopping_) return Status::Unavailable("the agent is shutting down");
    auto& last = last_attempt_[{l.job_id(), l.task_index()}];
    if (l.attempt() <= last)
      return Status::FailedPrecondition("refusing stale " + what + " (attempt " +
                                        std::to_string(last) + " already seen)");
    last = l.attempt();  // seen, even if refused below: it never starts here later
    // Sent before the coordinator gave this node up; by now it may run elsewhere.
    if (options_.keeper && options_.keeper->Expired())
      return Status::Unavailable("this node's lease had run out");
    if (options_.keeper && options_.keeper->Lost())
      return Status::Unavailable("this node's task keeper is gone; restart the agent");
    // An older attempt still here is stopped, and has ended (its cgroup emptied, its end
    // reported), before the new one starts: two attempts of a task never run at once.
    auto older = [&] {
      for (auto& [key, t] : tasks_)
        if (t->job_id == l.job_id() && t->task_index == l.task_index()) return true;
      return false;
    };
    if (older()) {
      for (auto& [key, t] : tasks_)
        if (t->job_id == l.job_id() && t->task_index == l.task_index() && !t->exited &&
            !t->kill_requested)
          KillLocked(*t, options_.default_grace_ms);
      Wake();
      if (!changed_.wait_for(lock, std::chrono::milliseconds(options_.default_grace_ms + 2000),
                             [&] { return (!older() && ends_in_flight_ == 0) || stopping_; }) ||
          stopping_)
        return Status::Unavailable("an older attempt of " + what + " has not ended here yet");
    }
  }
  const std::string base = options_.work_dir + "/logs/" + std::to_string(l.job_id()) + "." +
                           std::to_string(l.task_index()) + "." + std::to_string(l.attempt());
  task->out.path = base + ".out";
  task->err.path = base + ".err";
  if (user->switch_user)
    for (Stream* st : {&task->out, &task->err}) {
      st->owner_uid = static_cast<int>(user->uid);
      st->owner_gid = static_cast<int>(user->gid);
    }
  // 0 (or less) means no limit; a tiny limit is raised to 64 KiB (the ring needs a tail).
  const int64_t limit = l.log_limit_bytes() > 0 ? std::max<int64_t>(64 << 10, l.log_limit_bytes()) : 0;
  task->out.limit = task->err.limit = limit;
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  SpawnResult spawned;
  std::string not_enforced;  // limits asked for that its cgroup cannot enforce
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    spawned.error = std::string("cannot create pipes: ") + std::strerror(errno);
  } else {
    req.stdout_fd = out_pipe[1];
    req.stderr_fd = err_pipe[1];
    req.parent_death_signal = options_.parent_death_signal;
    if (options_.cgroups) {
      const std::string name = std::to_string(l.job_id()) + "." + std::to_string(l.task_index()) +
                               "." + std::to_string(l.attempt());
      TaskLimits limits{.memory_bytes = l.memory_bytes(),
                        .milli_cpus = l.milli_cpus(),
                        .pids = options_.task_pids_max,
                        .device_major = options_.gpu_device_major};
      for (const auto& [gpu, minor] : options_.gpu_minors)
        if (std::find(l.gpus().begin(), l.gpus().end(), gpu) == l.gpus().end())
          limits.denied_minors.push_back(minor);
      auto lease = cgroup_pool_->Take(name, limits);
      if (lease.ok()) {
        const CreatedCgroup* made = &lease->made;
        req.cgroup_procs_fds = made->procs_fds;
        task->cgroup = lease->name;
        task->cgroup_shape = made->shape;
        task->cgroup_since = made->since;
        task->cgroup_limits = limits;
        task->cgroup_not_enforced = made->not_enforced;
        task->memory_limit_bytes = l.memory_bytes();
        for (const std::string& why : made->not_enforced)
          not_enforced += (not_enforced.empty() ? "" : "; ") + why;
      } else {
        spdlog::warn("job {} task {}: {}; contained by its process group only", l.job_id(),
                     l.task_index(), lease.status().message());
        not_enforced = "no limits: " + lease.status().message();
      }
    } else if (l.memory_bytes() > 0 || l.milli_cpus() > 0) {
      not_enforced = "no limits: this node runs tasks without cgroups";
    }
    req.stdout_copy_path = l.stdout_path();
    req.stderr_copy_path = l.stderr_path();
    if (options_.keeper) {
      KeptTaskInfo info;
      info.job_id = l.job_id();
      info.task_index = l.task_index();
      info.attempt = l.attempt();
      info.start_ms = WallMs();
      info.time_limit_ms = std::max<int64_t>(0, l.time_limit_ms());
      info.limit_grace_ms = l.signal_grace_ms() > 0 ? l.signal_grace_ms() : options_.default_grace_ms;
      info.log_limit_bytes = limit;
      info.memory_limit_bytes = l.memory_bytes();
      info.owner_uid = task->out.owner_uid;
      info.owner_gid = task->out.owner_gid;
      if (task->cgroup.size() <= KeptTaskInfo::kNameMax)
        std::memcpy(info.cgroup, task->cgroup.c_str(), task->cgroup.size() + 1);
      const std::string kill_file =
          task->cgroup.empty() ? "" : options_.cgroups->KillFileOf(task->cgroup);
      if (kill_file.size() <= KeptTaskInfo::kPathMax)
        std::memcpy(info.kill_file, kill_file.c_str(), kill_file.size() + 1);
      if (l.stop_reason_file().size() <= KeptTaskInfo::kPathMax)
        std::memcpy(info.stop_reason_file, l.stop_reason_file().c_str(),
                    l.stop_reason_file().size() + 1);
      spawned = options_.keeper->Spawn(req, info, out_pipe[0], err_pipe[0]);
    } else {
      spawned = Spawn(req);
    }
    task->out.copy = spawned.stdout_copy_fd;
    task->err.copy = spawned.stderr_copy_fd;
    for (int& fd : req.cgroup_procs_fds) CloseFd(fd);
    // Not started, or so the answer says: a keeper that died after starting it leaves a child
    // in the cgroup, killed (Give) before the attempt counts as failed.
    if (spawned.pid <= 0 && !task->cgroup.empty())
      cgroup_pool_->Give(task->cgroup, task->cgroup_shape);
  }
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  if (spawned.pid <= 0) {
    CloseFd(out_pipe[0]);
    CloseFd(err_pipe[0]);
    std::string line = "muster: " + spawned.error + "\n";
    WriteAll(task->err.File(), line.data(), line.size());
    CloseFd(task->out.file);
    CloseFd(task->err.file);
    v1::TaskLog log;
    log.set_job_id(task->job_id);
    log.set_task_index(task->task_index);
    log.set_attempt(task->attempt);
    log.set_stderr(true);
    log.set_data(line);
    sink_->OnLog(log);
    v1::TaskEvent e = task->Event(v1::TASK_STATE_FAILED);
    e.set_exit_code(127);
    e.set_message(spawned.error);
    sink_->OnEvent(e);
    return Status::Ok();
  }
  task->pid = spawned.pid;
  if (!options_.keeper) {  // with a keeper its message says when the task ends
    task->pidfd = PidfdOpen(spawned.pid);
    if (task->pidfd >= 0) fcntl(task->pidfd, F_SETFD, FD_CLOEXEC);
  }
  task->out.pipe = out_pipe[0];
  task->err.pipe = err_pipe[0];
  fcntl(task->out.pipe, F_SETFL, O_NONBLOCK);
  fcntl(task->err.pipe, F_SETFL, O_NONBLOCK);
  task->start_ms = WallMs();
  if (l.time_limit_ms() > 0) {
    task->limit_ms = l.time_limit_ms();
    task->limit_deadline = SteadyMs() + l.time_limit_ms();
    task->limit_grace_ms = l.signal_grace_ms() > 0 ? l.signal_grace_ms() : options_.default_grace_ms;
  }
  task->stop_reason_file = l.stop_reason_file();
  task->start_ticks = ProcessStartTicks("/proc", spawned.pid);
  v1::TaskEvent running = task->Event(v1::TASK_STATE_RUNNING);
  running.set_message("pid " + std::to_string(spawned.pid));
  running.set_not_enforced(not_enforced);
  // The running event goes out before the supervisor can see the task, so it precedes its logs.
  sink_->OnEvent(running);
  {
    std::lock_guard lock(mu_);
    if (auto early = early_exits_.find(task->pid); early != early_exits_.end()) {
      task->keeper_exit = true;
      task->wait_status = early->second.first;
      task->fenced = early->second.second;
      early_exits_.erase(early);
    } else if (options_.keeper && options_.keeper->Lost()) {
      // The keeper went after it started this task and before it was recorded here, so
      // OnKeeperLost did not see it: as there, killed and reported lost.
      kill(-task->pid, SIGKILL);
      KillCgroup(*task);
      task->keeper_exit = true;
      task->wait_status = SIGKILL;
      task->agent_stop = true;
    }
    tasks_[{l.job_id(), l.task_index(), l.attempt()}] = std::move(task);
    SaveTaskListLocked();
  }
  Wake();
  return Status::Ok();
}

int Launcher::Adopt(std::vector<AdoptedTask> adopted) {
  int taken = 0;
  for (AdoptedTask& a : adopted) {
    const KeptTaskInfo& i = a.info;
    auto task = std::make_unique<Task>();
    task->job_id = i.job_id;
    task->task_index = i.task_index;
    task->attempt = i.attempt;
    task->pid = a.pid;
    task->start_ms = i.start_ms;
    task->start_ticks = i.start_ticks != 0 ? i.start_ticks : ProcessStartTicks("/proc", a.pid);
    task->keeper_exit = a.exited;
    task->wait_status = a.wait_status;
    task->fenced = a.fenced;
    const std::string base = options_.work_dir + "/logs/" + std::to_string(i.job_id) + "." +
                             std::to_string(i.task_index) + "." + std::to_string(i.attempt);
    task->out.path = base + ".out";
    task->err.path = base + ".err";
    task->out.pipe = a.out_read;
    task->err.pipe = a.err_read;
    task->out.copy = a.out_copy;
    task->err.copy = a.err_copy;
    for (Stream* st : {&task->out, &task->err}) {
      st->owner_uid = i.owner_uid;
      st->owner_gid = i.owner_gid;
      st->limit = i.log_limit_bytes;
      st->Resume();
      if (st->pipe >= 0) fcntl(st->pipe, F_SETFL, O_NONBLOCK);
    }
    task->cgroup = i.cgroup;
    task->cgroup_reusable = false;  // its shape here is not known
    task->memory_limit_bytes = i.memory_limit_bytes;
    task->stop_reason_file = i.stop_reason_file;
    if (i.time_limit_ms > 0) {
      task->limit_ms = i.time_limit_ms;
      task->limit_deadline = SteadyMs() + std::max<int64_t>(0, i.start_ms + i.time_limit_ms - WallMs());
      task->limit_grace_ms = i.limit_grace_ms;
    }
    spdlog::info("adopted job {} task {} attempt {} (pid {}{}) from the agent that ran here before",
                 i.job_id, i.task_index, i.attempt, a.pid, a.exited ? ", ended meanwhile" : "");
    std::lock_guard lock(mu_);
    // An end the keeper reported after its Adopt (before this launcher knew the task).
    auto early = early_exits_.find(a.pid);
    if (early != early_exits_.end() && !a.exited) {
      task->keeper_exit = true;
      task->wait_status = early->second.first;
      task->fenced = early->second.second;
      early_exits_.erase(early);
    }
    auto& last = last_attempt_[{i.job_id, i.task_index}];
    last = std::max(last, i.attempt);
    tasks_[{i.job_id, i.task_index, i.attempt}] = std::move(task);
    ++taken;
  }
  {
    std::lock_guard lock(mu_);
    SaveTaskListLocked();
  }
  Wake();
  return taken;
}

void Launcher::SaveTaskListLocked() {
  if (options_.task_list_path.empty()) return;
  std::vector<RecordedTask> list;
  for (const auto& [key, t] : tasks_)
    if (!t->exited) list.push_back({t->job_id, t->task_index, t->attempt, t->pid, t->start_ticks});
  if (!journal_) journal_ = std::make_unique<TaskJournal>(options_.task_list_path);
  if (!journal_->Record(list))
    spdlog::warn("cannot record running tasks in {}", options_.task_list_path);
}

void Launcher::KillCgroup(Task& t) const {
  if (!t.cgroup.empty() && options_.cgroups->KillNow(t.cgroup)) t.cgroup_reusable = false;
}

void Launcher::KillLocked(Task& t, int64_t grace_ms) {
  if (t.exited) return;
  if (grace_ms <= 0) grace_ms = options_.default_grace_ms;
  int64_t deadline = SteadyMs() + grace_ms;
  if (!t.kill_requested || deadline < t.kill_deadline) t.kill_deadline = deadline;
  t.kill_requested = true;
  kill(-t.pid, SIGTERM);
}

Status Launcher::Kill(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms,
                      const std::string& reason) {
  if (!reason.empty()) {  // before the SIGTERM, outside the lock (a slow file system)
    std::string file;
    int uid = -1, gid = -1;
    {
      std::lock_guard lock(mu_);
      auto it = tasks_.find({job_id, task_index, attempt});
      if (it != tasks_.end() && !it->second->exited && !it->second->kill_requested) {
        file = it->second->stop_reason_file;
        uid = it->second->out.owner_uid;
        gid = it->second->out.owner_gid;
      }
    }
    if (!file.empty()) WriteStopReason(file, reason, uid, gid);
  }
  {
    std::lock_guard lock(mu_);
    auto it = tasks_.find({job_id, task_index, attempt});
    if (it == tasks_.end() || it->second->exited)
      return Status::NotFound("job " + std::to_string(job_id) + " task " +
                              std::to_string(task_index) + " attempt " + std::to_string(attempt) +
                              " is not running here");
    KillLocked(*it->second, grace_ms);
  }
  Wake();
  return Status::Ok();
}

std::vector<RunningTask> Launcher::Running() const {
  std::lock_guard lock(mu_);
  std::vector<RunningTask> out;
  for (const auto& [key, t] : tasks_)
    if (!t->exited) out.push_back({t->job_id, t->task_index, t->attempt, t->pid, t->start_ms});
  return out;
}

bool Launcher::StopAll(int64_t grace_ms) {
  if (grace_ms <= 0) grace_ms = options_.default_grace_ms;
  std::unique_lock lock(mu_);
  stopping_ = true;  // no new launches from now on
  for (auto& [key, t] : tasks_) {
    if (!t->exited) t->agent_stop = true;
    KillLocked(*t, grace_ms);
  }
  Wake();
  return changed_.wait_for(lock, std::chrono::milliseconds(grace_ms + 2000),
                           [&] { return tasks_.empty() && ends_in_flight_ == 0; });
}

}  // namespace muster::agent
