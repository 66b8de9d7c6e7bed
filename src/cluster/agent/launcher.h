// Runs tasks as child processes and reports what happens to them.
//
// Each Launch forks a child that becomes the leader of its own process group (setpgid), gets
// the agent's environment plus Launch.env, its working directory (Launch.workdir, else the
// agent's work dir), stdin from /dev/null, and stdout/stderr on pipes. exec failures travel back
// on a close-on-exec pipe, so "no such command" becomes a failed TaskEvent with a clear message
// instead of a hang. One supervisor thread polls every pipe (and a pidfd per task, to wake at
// exit): it appends the bytes to WORK/logs/<job>.<task>.<attempt>.out|.err, batches them into
// TaskLog messages (every flush_ms or flush_bytes), parses stdout progress lines
// (cluster/common/progress.h) into TaskProgress (latest one per flush), reaps exits with
// waitpid, SIGKILLs what is left of the group when the leader exits, and escalates Kill requests
// from SIGTERM to SIGKILL after the grace period.
//
// Ordering: for one attempt the sink sees "running", then logs/progress, then one terminal event
// (succeeded, failed, or lost when StopAll ended it), after the last log bytes. Attempts: a Launch
// whose attempt is not newer than the last one seen for that (job, task) is refused; a Launch of a
// newer attempt while an older one still runs stops the older one first (SIGTERM, SIGKILL after the
// default grace) and starts only once the older has ended, its cgroup empty and its end reported
// (Unavailable if that takes longer than the grace plus 2 s).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cluster/agent/task_list.h"
#include "cluster/common/wall_time.h"
#include "cluster/proto/muster.pb.h"
#include "core/status.h"

namespace muster::agent {

class TaskKeeper;   // cluster/agent/task_keeper.h
struct AdoptedTask;
class CgroupTree;  // cluster/agent/task_cgroup.h
class CgroupPool;  // cluster/agent/cgroup_pool.h

// Receives what the launcher observes. Called from the supervisor thread (and from Launch's
// caller for "running" and exec-failure events), never with the launcher's lock held.
class TaskSink {
 public:
  virtual ~TaskSink() = default;
  virtual void OnEvent(const v1::TaskEvent& e) = 0;
  virtual void OnLog(const v1::TaskLog& l) = 0;
  virtual void OnProgress(const v1::TaskProgress& p) = 0;
};

struct LauncherOptions {
  std::string work_dir = {};                          // default task cwd; logs go to work_dir/logs
  std::map<std::string, std::string> base_env = {};   // empty: the agent's own environment
  std::map<std::string, std::string> extra_env = {};  // added unless Launch.env sets the same key
  int64_t flush_ms = 100;
  size_t flush_bytes = 64 * 1024;
  int64_t default_grace_ms = 5000;  // used when a Kill says grace_ms <= 0
  std::string task_list_path = {};  // non-empty: keep the running list there (task_list.h)
  // Signal each task leader gets if the thread that launched it ends (the agent died); 0 = none.
  // Launch must then be called from a thread that lives as long as the agent.
  int parent_death_signal = 0;
  // Non-null: tasks are started by this keeper (task_keeper.h), which is their parent, stops them
  // when the node's lease runs out (such a task is reported as lost), and keeps them across a
  // crash of the agent. Must outlive the launcher. Null: the launcher forks them itself.
  TaskKeeper* keeper = nullptr;
  // Non-null: every task runs in its own cgroup (task_cgroup.h), killed whole when the task is
  // stopped or its leader exits, and removed when it has ended. Must outlive the launcher.
  const CgroupTree* cgroups = nullptr;
  // With cgroups: how many ended tasks' cgroups wait for the next task (cgroup_pool.h); 0: each
  // task gets a new one.
  size_t cgroup_reuse = 64;
  // With cgroups: each task's pids limit (processes and threads); 0 = none.
  int64_t task_pids_max = 0;
  // Non-empty, with cgroups: GPU device isolation. Each GPU's device index (Launch.gpus) and its
  // device file's minor (of gpu_device_major): a task cannot open the GPUs it was not given.
  std::map<int, int> gpu_minors = {};
  int gpu_device_major = 195;
};

// A task the launcher is running (for Register and usage sampling).
struct RunningTask {
  int64_t job_id = 0;
  int32_t task_index = 0;
  int64_t attempt = 0;
  int pid = 0;  // also the process group id
  int64_t start_ms = 0;
};

// Thread-safe: every public method may be called from any thread.
class Launcher {
 public:
  // Starts the supervisor thread. `sink` must outlive the launcher.
  Launcher(LauncherOptions options, TaskSink* sink);
  // Stops every task (SIGTERM, then SIGKILL after the default grace) and joins the thread.
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Starts the task. FailedPrecondition for a stale attempt, InvalidArgument for an empty
  // command, Unavailable while stopping or once the fence's lease has run out (the attempt then
  // counts as seen); a command that cannot be executed is accepted and reported as failed.
  Status Launch(const v1::Launch& launch);
  // SIGTERM to the task's group, SIGKILL after grace_ms (<= 0: the default grace); a non-empty
  // `reason` is written to the task's stop-reason file first (Launch.stop_reason_file).
  // NotFound if that attempt is not running here.
  Status Kill(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms,
              const std::string& reason = "");
  // Records that `attempt` of the task exists elsewhere, so older Launches are refused.
  void NoteAttempt(int64_t job_id, int32_t task_index, int64_t attempt);
  // Tasks whose process is still alive.
  std::vector<RunningTask> Running() const;
  // Kills every task (grace as in Kill) and waits until all have been reported, at most
  // grace + 2 s. Their end events say "lost" (not their own outcome), so the coordinator
  // requeues them. Later Launches are refused (Unavailable). Returns true if all ended.
  bool StopAll(int64_t grace_ms);
  // Removes the log files in <work dir>/logs last written before before_ms (wall time), except
  // those of tasks still here; their content is the coordinator's by then. Returns how many.
  int PruneLogs(int64_t before_ms);
  // Takes over tasks that a crashed agent left with the keeper (TaskKeeper::TakeAdopted): they
  // run on as if launched here (their "running" was reported by that agent), their output is
  // read on from their pipes, and their ends are reported as usual. Takes the descriptors.
  // Returns how many were taken.
  int Adopt(std::vector<AdoptedTask> tasks);

 private:
  struct Task;
  using Key = std::tuple<int64_t, int32_t, int64_t>;  // job, task, attempt

  void Supervise();
  void KillLocked(Task& t, int64_t grace_ms);
  // Every process of the task's cgroup, if it has one; a cgroup that had any is not reused.
  void KillCgroup(Task& t) const;
  void SaveTaskListLocked();
  void Wake();
  void OnKeeperExit(int pid, int wait_status, bool fenced);
  void OnKeeperLost();

  const LauncherOptions options_;
  TaskSink* const sink_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<Key, std::unique_ptr<Task>> tasks_;                   // GUARDED_BY(mu_)
  std::unique_ptr<TaskJournal> journal_;                         // GUARDED_BY(mu_)
  std::map<std::pair<int64_t, int32_t>, int64_t> last_attempt_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                                        // GUARDED_BY(mu_)
  // Ends the keeper reported before the launch that started them had recorded the task.
  std::map<int, std::pair<int, bool>> early_exits_;              // GUARDED_BY(mu_)
  // Ends taken out of tasks_ whose events the sink does not have yet.
  int ends_in_flight_ = 0;                                       // GUARDED_BY(mu_)
  int wake_fds_[2] = {-1, -1};
  std::unique_ptr<CgroupPool> cgroup_pool_;  // with cgroups
  std::thread supervisor_;
};

// The current wall-clock time in ms since the Unix epoch.
using cluster::WallMs;

}  // namespace muster::agent
