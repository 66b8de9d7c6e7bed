// The launcher's supervisor thread: reads task pipes into log files and batches, parses
// progress lines, reaps exits, escalates kills and reports ends (see launcher.h).
#include <poll.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cluster/agent/cgroup_pool.h"
#include "cluster/agent/launcher_task.h"
#include "cluster/agent/task_keeper.h"
#include "cluster/agent/task_cgroup.h"
#include "cluster/common/progress.h"
#include "core/resources.h"

namespace muster::agent {

using namespace launcher_internal;

namespace {

constexpr size_t kMaxLine = 64 * 1024;  // longer lines are not progress lines
constexpr int64_t kDrainMs = 1000;      // how long to read pipes after the leader exits

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

// "512 MiB" (rounded up), or "not measured".
std::string FormatMiBytes(int64_t bytes) {
  if (bytes < 0) return "not measured";
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

}  // namespace

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
        if (t->limit_deadline > 0 && !t->timed_out && !t->exited)
          timeout = std::min<int64_t>(timeout, t->limit_deadline - now);
      }
    }
    poll(fds.data(), fds.size(), std::max(timeout, 0));
    char drain[256];
    while (read(wake_fds_[0], drain, sizeof drain) > 0) {
    }

    Outbox box;
    std::vector<Key> timed_out;  // reached their time limit in this pass
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
              s->Finish(now);
              break;
            }
            s->Accept(buf.data(), static_cast<size_t>(n), now);
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
                for (const auto& [k, v] : p->fields)
                  (*tp.mutable_progress()->mutable_fields())[k] = v;
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
          // With a keeper, the keeper is the parent and reports the end.
          const pid_t r = options_.keeper ? (t.keeper_exit ? t.pid : 0)
                                          : waitpid(t.pid, &status, WNOHANG);
          if (options_.keeper) status = t.wait_status;
          if (r == t.pid || (r < 0 && errno == ECHILD)) {
            t.exited = true;
            t.wait_status = r == t.pid ? status : 0;
            t.drain_deadline = now + kDrainMs;
            kill(-t.pid, SIGKILL);
            KillCgroup(t);
            CloseFd(t.pidfd);
          }
        }
        // 3. A time limit reached: stopped after this pass, once its stop reason is written.
        if (!t.exited && !t.kill_requested && !t.timed_out && t.limit_deadline > 0 &&
            now >= t.limit_deadline) {
          t.timed_out = true;
          timed_out.push_back(it->first);
        }
        // Escalate a kill whose grace has run out.
        if (!t.exited && t.kill_requested && !t.sigkill_sent && now >= t.kill_deadline) {
          kill(-t.pid, SIGKILL);
          KillCgroup(t);
          t.sigkill_sent = true;
        }
        // 4. Flush batches (everything when the task is done).
        const bool done =
            t.exited && ((t.out.pipe < 0 && t.err.pipe < 0) || now >= t.drain_deadline);
        for (Stream* s : {&t.out, &t.err}) {
          if (done) s->Finish(now);  // a stream still open at the drain deadline
          if (s->pending.empty()) continue;
          if (done || s->pending.size() >= options_.flush_bytes ||
              now - s->pending_since >= options_.flush_ms) {
            // In messages of at most 1 MiB (a log limit's tail comes at once).
            constexpr size_t kChunk = 1 << 20;
            for (size_t at = 0; at < s->pending.size(); at += kChunk)
              box.logs.push_back(MakeLog(rt, s == &t.err, s->pending.substr(at, kChunk)));
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
        // 5. Report the end, with what its cgroup measured.
        CgroupUsage usage;
        if (!t.cgroup.empty()) usage = options_.cgroups->Usage(t.cgroup, t.cgroup_since);
        // Its counters' totals now, for the cgroup's next task: no process is left to move them
        // (CPU time not measured: they are read again then).
        std::optional<IdleCgroup> left;
        if (usage.cpu_seconds >= 0)
          left = IdleCgroup{t.cgroup_limits, t.cgroup_not_enforced,
                            {t.cgroup_since.cpu_seconds + usage.cpu_seconds,
                             t.cgroup_since.oom_kills + usage.oom_kills}};
        if (!t.cgroup.empty() && !cgroup_pool_->Give(t.cgroup, t.cgroup_shape, t.cgroup_reusable,
                                                     std::move(left)))
          spdlog::warn("cgroup {} of job {} task {} could not be removed", t.cgroup, t.job_id,
                       t.task_index);
        CloseFd(t.out.pipe);
        CloseFd(t.err.pipe);
        CloseFd(t.out.file);
        CloseFd(t.err.file);
        CloseFd(t.out.copy);
        CloseFd(t.err.copy);
        const int st = t.wait_status;
        const std::string on_request = t.kill_requested ? " (stopped on request)" : "";
        v1::TaskEvent e;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
          e = t.Event(v1::TASK_STATE_SUCCEEDED);
          e.set_message("exited with code 0" + on_request);
        } else if (WIFEXITED(st)) {
          e = t.Event(v1::TASK_STATE_FAILED);
          e.set_exit_code(WEXITSTATUS(st));
          e.set_message("exited with code " + std::to_string(WEXITSTATUS(st)) + on_request);
        } else if (WIFSIGNALED(st)) {
          e = t.Event(v1::TASK_STATE_FAILED);
          e.set_exit_code(128 + WTERMSIG(st));
          const char* name = strsignal(WTERMSIG(st));
          e.set_message("killed by signal " + std::to_string(WTERMSIG(st)) + " (" +
                        (name ? name : "?") + ")" + on_request);
        } else {
          e = t.Event(v1::TASK_STATE_FAILED);
          e.set_exit_code(-1);
          e.set_message("ended with unknown status" + on_request);
        }
        e.set_stopped_on_request(t.kill_requested);
        const bool fenced = t.fenced;
        if (options_.keeper) options_.keeper->Forget(t.pid);
        if (t.timed_out && !t.agent_stop && !fenced) {
          e.set_state(v1::TASK_STATE_TIMEOUT);
          e.set_message("reached its time limit of " + FormatDurationMs(t.limit_ms) + "; " +
                        e.message());
        } else if (t.agent_stop) {
          // Not the task's own outcome: the coordinator requeues it like a task on a lost node.
          e.set_state(v1::TASK_STATE_LOST);
          e.set_message("stopped because its agent shut down; " + e.message());
        } else if (fenced) {
          // Stopped by the lease fence: by now the coordinator may run a newer attempt.
          e.set_state(v1::TASK_STATE_LOST);
          e.set_message("stopped on its node because the node's lease ran out (no answer from "
                        "the coordinator); " +
                        e.message());
        } else if (usage.oom_kills > 0 && e.state() == v1::TASK_STATE_FAILED) {
          // The kernel killed a process of it for going over its memory limit.
          e.set_state(v1::TASK_STATE_OOM);
          e.set_message(
              (t.memory_limit_bytes > 0
                   ? "out of memory: limit " + FormatMiBytes(t.memory_limit_bytes) + ", peak " +
                         FormatMiBytes(usage.peak_memory_bytes)
                   : "killed by the kernel's OOM killer (no memory limit of its own; peak " +
                         FormatMiBytes(usage.peak_memory_bytes) + ")") +
              "; " + e.message());
        }
        e.set_peak_memory_bytes(std::max<int64_t>(0, usage.peak_memory_bytes));
        if (usage.cpu_seconds >= 0) e.set_cpu_seconds(usage.cpu_seconds);
        box.events.push_back(std::move(e));
        ++ends_in_flight_;  // until the sink has it: only then has the task ended for the waits
        it = tasks_.erase(it);
      }
      if (!box.events.empty()) SaveTaskListLocked();
    }
    // Time limits: the reason first (outside the lock: the checkpoint directory may be on a slow
    // file system), then the SIGTERM, then SIGKILL after the job's signal grace.
    for (const Key& key : timed_out) {
      std::string file;
      int uid = -1, gid = -1;
      {
        std::lock_guard lock(mu_);
        auto it = tasks_.find(key);
        if (it == tasks_.end()) continue;
        file = it->second->stop_reason_file;
        uid = it->second->out.owner_uid;
        gid = it->second->out.owner_gid;
      }
      if (!file.empty()) WriteStopReason(file, "timeout", uid, gid);
      std::lock_guard lock(mu_);
      auto it = tasks_.find(key);
      if (it != tasks_.end() && !it->second->exited && !it->second->kill_requested) {
        spdlog::info("job {} task {} attempt {} reached its time limit of {}: stopping it",
                     std::get<0>(key), std::get<1>(key), std::get<2>(key),
                     FormatDurationMs(it->second->limit_ms));
        KillLocked(*it->second, it->second->limit_grace_ms);
      }
    }
    for (const auto& l : box.logs) sink_->OnLog(l);
    for (const auto& p : box.progress) sink_->OnProgress(p);
    for (const auto& e : box.events) sink_->OnEvent(e);
    if (!box.events.empty()) {
      std::lock_guard lock(mu_);
      ends_in_flight_ -= static_cast<int>(box.events.size());
      changed_.notify_all();
    }
  }
}

}  // namespace muster::agent
