// Internals of the launcher shared by launcher.cc (launch, kill) and launcher_supervise.cc
// (the supervisor thread): the per-task state and small fd helpers. Not a public interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "cluster/agent/launcher.h"
#include "cluster/agent/task_cgroup.h"

namespace muster::agent {

namespace launcher_internal {

// Monotonic milliseconds, for deadlines.
int64_t SteadyMs();
// A pidfd for `pid` (readable when it exits), or -1 where the kernel has none.
int PidfdOpen(int pid);
// Writes `reason` and a newline to `path` for the task to read ($MUSTER_STOP_REASON_FILE): to a
// new file made beside it (never following a link the task's user may have put there), given to
// uid/gid (>= 0), then renamed over it. False (and a warning) if it cannot.
bool WriteStopReason(const std::string& path, const std::string& reason, int uid, int gid);
// Writes all of p[0, n) to fd, retrying on EINTR; gives up silently on error.
void WriteAll(int fd, const char* p, size_t n);
// Closes fd if open and sets it to -1.
void CloseFd(int& fd);

}  // namespace launcher_internal

// One output stream of a task: its pipe, its log file and the bytes not yet sent. The log file
// is created on the first byte (File()), so a task that writes nothing costs no file.
//
// Log limit (limit > 0): the first HeadBytes() go to the file and are forwarded as they come;
// then a marker line says that the rest is held back, and further bytes go to a ring file
// (<log>.tail) that keeps the last TailBytes(). Finish() appends a marker with the number of
// bytes dropped, then the ring's bytes in order, to the file and the forwarded bytes. So the file
// and what the coordinator receives stay under limit plus two marker lines.
struct Stream {
  static constexpr int64_t kMaxTail = 4 << 20;  // forwarded in one go at the end: kept small
  int pipe = -1;
  int file = -1;
  std::string path;  // of the log file
  // The task's user, when it is not the agent's: its log files are given to it (0600).
  int owner_uid = -1;
  int owner_gid = -1;
  // The open log file, created now if need be; -1 if it cannot be.
  int File();
  // Takes n bytes read from the pipe: writes what the limit allows and queues it in `pending`.
  void Accept(const char* p, size_t n, int64_t now);
  // After an agent restart: takes up the head and ring state from the files as they are.
  void Resume();
  // At the end of the stream: the dropped-bytes marker and the kept tail, if any.
  void Finish(int64_t now);
  int64_t TailBytes() const { return limit > 0 ? std::min(limit / 2, kMaxTail) : 0; }
  int64_t HeadBytes() const { return limit - TailBytes(); }
  std::string pending;
  int64_t pending_since = 0;
  std::string line;  // stdout only: the partial line being assembled
  int64_t limit = 0;        // bytes kept at most (head + tail); 0 = everything
  int64_t head = 0;         // bytes written so far within the head
  int64_t ring_total = 0;   // bytes offered to the ring (kept: the last TailBytes())
  int ring = -1;            // the ring file, opened at the first byte past the head
  int copy = -1;            // the task's own copy of every byte (--output / --error), or -1

 private:
  void Emit(const char* p, size_t n, int64_t now);
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
  // Time limit (Launch.time_limit_ms): at limit_deadline (SteadyMs) the reason "timeout" goes to
  // stop_reason_file, then SIGTERM, SIGKILL after limit_grace_ms; the end is reported "timeout".
  int64_t limit_deadline = 0;  // 0 = none
  int64_t limit_ms = 0;
  int64_t limit_grace_ms = 0;
  bool timed_out = false;
  std::string stop_reason_file;
  // With a keeper: its end as the keeper reported it (the keeper is the task's parent).
  bool keeper_exit = false;
  bool fenced = false;  // the keeper's fence stopped it
  std::string cgroup;   // its cgroup's name in LauncherOptions::cgroups, or ""
  uint32_t cgroup_shape = 0;   // CgroupTree::ShapeOf
  CgroupBaseline cgroup_since;  // its counters when this task got it (a reused one)
  TaskLimits cgroup_limits;     // set in it for this task
  std::vector<std::string> cgroup_not_enforced;  // of those, what could not be set
  bool cgroup_reusable = true;  // false for an adopted task's (its shape is not known)
  int64_t memory_limit_bytes = 0;  // set in its cgroup; 0 = none

  v1::TaskEvent Event(v1::TaskState state) const {
    v1::TaskEvent e;
    e.set_job_id(job_id);
    e.set_task_index(task_index);
    e.set_attempt(attempt);
    e.set_state(state);
    e.set_time_ms(WallMs());
    return e;
  }
};

}  // namespace muster::agent
