// See launcher.h.
#include "cluster/agent/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "cluster/agent/spawn.h"
#include "cluster/agent/task_list.h"
#include "cluster/common/progress.h"

extern char** environ;

namespace muster::agent {

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr size_t kMaxLine = 64 * 1024;  // longer lines are not progress lines
constexpr int64_t kDrainMs = 1000;      // how long to read pipes after the leader exits

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

}  // namespace

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One output stream of a task: its pipe, its log file and the bytes not yet sent.
struct Stream {
  int pipe = -1;
  int file = -1;
  std::string pending;
  int64_t pending_since = 0;
  std::string line;  // stdout only: the partial line being assembled
};

struct Launcher::Task {
  int64_t job_id = 0;
  int32_t task_index = 0;
  int64_t attempt = 0;
  int pid = 0;
  int pidfd = -1;
  int64_t start_ms = 0;
  uint64_t start_ticks = 0;
  Stream out, err;
  std::optional<v1::TaskProgress> progress;
  bool exited = false;
  int wait_status = 0;
  int64_t drain_deadline = 0;
  bool kill_requested = false;
  bool agent_stop = false;  // stopped by StopAll (the agent shutting down), not by a Kill
  bool sigkill_sent = false;
  int64_t kill_deadline = 0;

  v1::TaskEvent Event(const std::string& state) const {
    v1::TaskEvent e;
    e.set_job_id(job_id);
    e.set_task_index(task_index);
    e.set_attempt(attempt);
    e.set_state(state);
    e.set_time_ms(WallMs());
    return e;
  }
};

namespace {

// Everything the supervisor emits in one pass; sent after the lock is released.
struct Outbox {
  std::vector<v1::TaskLog> logs;
  std::vector<v1::TaskProgress> progress;
  std::vector<v1::TaskEvent> events;
};

v1::TaskLog MakeLog(const RunningTask& rt, bool is_stderr, std::string data) {
  v1::TaskLog l;
  l.set_job_id(rt.job_id);
  l.set_task_index(rt.task_index);
  l.set_attempt(rt.attempt);
  l.set_stderr(is_stderr);
  l.set_data(std::move(data));
  return l;
}

}  // namespace

Launcher::Launcher(LauncherOptions options, TaskSink* sink)
    : options_(std::move(options)), sink_(sink) {
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  supervisor_ = std::thread([this] { Supervise(); });
}

Launcher::~Launcher() {
  StopAll(options_.default_grace_ms);
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
  // Environment: base (or the agent's own), then extra, then the launch's; launch wins.
  std::map<std::string, std::string> env = options_.base_env;
  if (env.empty())
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
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
  req.cwd = l.workdir().empty() ? options_.work_dir : l.workdir();

  auto task = std::make_unique<Task>();
  task->job_id = l.job_id();
  task->task_index = l.task_index();
  task->attempt = l.attempt();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Unavailable("the agent is stopping");
    auto& last = last_attempt_[{l.job_id(), l.task_index()}];
    if (l.attempt() <= last)
      return Status::FailedPrecondition("refusing stale " + what + " (attempt " +
                                        std::to_string(last) + " already seen)");
    last = l.attempt();
    // An older attempt still running here is stopped before the new one starts.
    for (auto& [key, t] : tasks_)
      if (t->job_id == l.job_id() && t->task_index == l.task_index() && !t->exited &&
          !t->kill_requested)
        KillLocked(*t, options_.default_grace_ms);
  }
  std::error_code ec;
  const std::string log_dir = options_.work_dir + "/logs";
  std::filesystem::create_directories(log_dir, ec);
  const std::string base = log_dir + "/" + std::to_string(l.job_id()) + "." +
                           std::to_string(l.task_index()) + "." + std::to_string(l.attempt());
  task->out.file = open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  task->err.file = open((base + ".err").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  SpawnResult spawned;
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    spawned.error = std::string("cannot create pipes: ") + std::strerror(errno);
  } else {
    req.stdout_fd = out_pipe[1];
    req.stderr_fd = err_pipe[1];
    req.parent_death_signal = options_.parent_death_signal;
    spawned = Spawn(req);
  }
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  if (spawned.pid <= 0) {
    CloseFd(out_pipe[0]);
    CloseFd(err_pipe[0]);
    std::string line = "muster: " + spawned.error + "\n";
    WriteAll(task->err.file, line.data(), line.size());
    CloseFd(task->out.file);
    CloseFd(task->err.file);
    v1::TaskLog log;
    log.set_job_id(task->job_id);
    log.set_task_index(task->task_index);
    log.set_attempt(task->attempt);
    log.set_stderr(true);
    log.set_data(line);
    sink_->OnLog(log);
    v1::TaskEvent e = task->Event("failed");
    e.set_exit_code(127);
    e.set_message(spawned.error);
    sink_->OnEvent(e);
    return Status::Ok();
  }
  task->pid = spawned.pid;
  task->pidfd = PidfdOpen(spawned.pid);
  if (task->pidfd >= 0) fcntl(task->pidfd, F_SETFD, FD_CLOEXEC);
  task->out.pipe = out_pipe[0];
  task->err.pipe = err_pipe[0];
  fcntl(task->out.pipe, F_SETFL, O_NONBLOCK);
  fcntl(task->err.pipe, F_SETFL, O_NONBLOCK);
  task->start_ms = WallMs();
  task->start_ticks = ProcessStartTicks("/proc", spawned.pid);
  v1::TaskEvent running = task->Event("running");
  running.set_message("pid " + std::to_string(spawned.pid));
  // The running event goes out before the supervisor can see the task, so it precedes its logs.
  sink_->OnEvent(running);
  {
    std::lock_guard lock(mu_);
    tasks_[{l.job_id(), l.task_index(), l.attempt()}] = std::move(task);
    SaveTaskListLocked();
  }
  Wake();
  return Status::Ok();
}

void Launcher::SaveTaskListLocked() {
  if (options_.task_list_path.empty()) return;
  std::vector<RecordedTask> list;
  for (const auto& [key, t] : tasks_)
    if (!t->exited) list.push_back({t->job_id, t->task_index, t->attempt, t->pid, t->start_ticks});
  WriteTaskList(options_.task_list_path, list);
}

void Launcher::KillLocked(Task& t, int64_t grace_ms) {
  if (t.exited) return;
  if (grace_ms <= 0) grace_ms = options_.default_grace_ms;
  int64_t deadline = SteadyMs() + grace_ms;
  if (!t.kill_requested || deadline < t.kill_deadline) t.kill_deadline = deadline;
  t.kill_requested = true;
  kill(-t.pid, SIGTERM);
}

Status Launcher::Kill(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms) {
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
                           [&] { return tasks_.empty(); });
}

void Launcher::Supervise() {
  std::vector<char> buf(64 * 1024);
  while (true) {
    std::vector<pollfd> fds;
    int64_t now = SteadyMs();
    int timeout = 100;
    {
      std::lock_guard lock(mu_);
      if (stopping_ && tasks_.empty()) return;
      fds.push_back({wake_fds_[0], POLLIN, 0});
      for (auto& [key, t] : tasks_) {
        if (t->out.pipe >= 0) fds.push_back({t->out.pipe, POLLIN, 0});
        if (t->err.pipe >= 0) fds.push_back({t->err.pipe, POLLIN, 0});
        if (t->pidfd >= 0 && !t->exited) fds.push_back({t->pidfd, POLLIN, 0});
        for (const Stream* s : {&t->out, &t->err})
          if (!s->pending.empty())
            timeout = std::min<int64_t>(timeout, s->pending_since + options_.flush_ms - now);
        if (t->kill_requested && !t->sigkill_sent)
          timeout = std::min<int64_t>(timeout, t->kill_deadline - now);
      }
    }
    poll(fds.data(), fds.size(), std::max(timeout, 0));
    char drain[256];
    while (read(wake_fds_[0], drain, sizeof drain) > 0) {
    }

    Outbox box;
    {
      std::lock_guard lock(mu_);
      now = SteadyMs();
      for (auto it = tasks_.begin(); it != tasks_.end();) {
        Task& t = *it->second;
        RunningTask rt{t.job_id, t.task_index, t.attempt, t.pid, t.start_ms};
        // 1. Read whatever the pipes hold.
        for (Stream* s : {&t.out, &t.err}) {
          while (s->pipe >= 0) {
            ssize_t n = read(s->pipe, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) {
              CloseFd(s->pipe);
              break;
            }
            WriteAll(s->file, buf.data(), static_cast<size_t>(n));
            if (s->pending.empty()) s->pending_since = now;
            s->pending.append(buf.data(), static_cast<size_t>(n));
            if (s != &t.out) continue;
            // Progress lines on stdout.
            s->line.append(buf.data(), static_cast<size_t>(n));
            size_t start = 0, nl;
            while ((nl = s->line.find('\n', start)) != std::string::npos) {
              std::string_view line(s->line.data() + start, nl - start);
              if (auto p = ParseProgressLine(line)) {
                v1::TaskProgress tp;
                tp.set_job_id(t.job_id);
                tp.set_task_index(t.task_index);
                tp.set_attempt(t.attempt);
                tp.mutable_progress()->set_done(p->done);
                tp.mutable_progress()->set_total(p->total);
                tp.mutable_progress()->set_time_ms(WallMs());
                for (const auto& [k, v] : p->fields) (*tp.mutable_progress()->mutable_fields())[k] = v;
                t.progress = std::move(tp);
              }
              start = nl + 1;
            }
            s->line.erase(0, start);
            if (s->line.size() > kMaxLine) s->line.clear();
          }
        }
        // 2. Reap the leader; kill what is left of its group.
        if (!t.exited) {
          int status = 0;
          pid_t r = waitpid(t.pid, &status, WNOHANG);
          if (r == t.pid || (r < 0 && errno == ECHILD)) {
            t.exited = true;
            t.wait_status = r == t.pid ? status : 0;
            t.drain_deadline = now + kDrainMs;
            kill(-t.pid, SIGKILL);
            CloseFd(t.pidfd);
          }
        }
        // 3. Escalate a kill whose grace has run out.
        if (!t.exited && t.kill_requested && !t.sigkill_sent && now >= t.kill_deadline) {
          kill(-t.pid, SIGKILL);
          t.sigkill_sent = true;
        }
        // 4. Flush batches (everything when the task is done).
        const bool done = t.exited && ((t.out.pipe < 0 && t.err.pipe < 0) || now >= t.drain_deadline);
        for (Stream* s : {&t.out, &t.err}) {
          if (s->pending.empty()) continue;
          if (done || s->pending.size() >= options_.flush_bytes ||
              now - s->pending_since >= options_.flush_ms) {
            box.logs.push_back(MakeLog(rt, s == &t.err, std::move(s->pending)));
            s->pending.clear();
          }
        }
        // The latest progress line goes out with the stdout batch that carried it.
        if (t.progress && (done || t.out.pending.empty())) {
          box.progress.push_back(std::move(*t.progress));
          t.progress.reset();
        }
        if (!done) {
          ++it;
          continue;
        }
        // 5. Report the end.
        CloseFd(t.out.pipe);
        CloseFd(t.err.pipe);
        CloseFd(t.out.file);
        CloseFd(t.err.file);
        const int st = t.wait_status;
        const std::string on_request = t.kill_requested ? " (stopped on request)" : "";
        v1::TaskEvent e;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
          e = t.Event("succeeded");
          e.set_message("exited with code 0" + on_request);
        } else if (WIFEXITED(st)) {
          e = t.Event("failed");
          e.set_exit_code(WEXITSTATUS(st));
          e.set_message("exited with code " + std::to_string(WEXITSTATUS(st)) + on_request);
        } else if (WIFSIGNALED(st)) {
          e = t.Event("failed");
          e.set_exit_code(128 + WTERMSIG(st));
          const char* name = strsignal(WTERMSIG(st));
          e.set_message("killed by signal " + std::to_string(WTERMSIG(st)) + " (" +
                        (name ? name : "?") + ")" + on_request);
        } else {
          e = t.Event("failed");
          e.set_exit_code(-1);
          e.set_message("ended with unknown status" + on_request);
        }
        if (t.agent_stop) {
          // Not the task's own outcome: the coordinator requeues it like a task on a lost node.
          e.set_state("lost");
          e.set_message("stopped because its agent shut down; " + e.message());
        }
        box.events.push_back(std::move(e));
        it = tasks_.erase(it);
      }
      if (!box.events.empty()) SaveTaskListLocked();
    }
    for (const auto& l : box.logs) sink_->OnLog(l);
    for (const auto& p : box.progress) sink_->OnProgress(p);
    for (const auto& e : box.events) sink_->OnEvent(e);
    if (!box.events.empty()) {
      std::lock_guard lock(mu_);
      changed_.notify_all();
    }
  }
}


}  // namespace muster::agent
