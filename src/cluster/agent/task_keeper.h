// The node's task keeper: a small process, one per agent, that is the parent of the agent's
// tasks. It starts them (on the agent's request), reaps them, stops them when the node's lease
// runs out, and keeps them running across a crash of the agent, so that the agent started next
// re-adopts them instead of losing them. (The role slurmstepd or containerd-shim play, once per
// node rather than once per task: see docs/decisions/0009-task-keeper.md.)
//
// The process. Start forks it from the agent; it only makes system calls and touches only its own
// memory (it is forked from a multi-threaded process, whose locks it may have inherited held), in
// its own process group, ignoring terminal signals, with every inherited descriptor closed. It
// talks to the agent over a SOCK_SEQPACKET socket (one message per request, descriptors passed
// with SCM_RIGHTS) and listens on an abstract Unix socket named after the agent, for the agent
// started after a crash. It accepts only a peer of its own uid, and one agent at a time.
//
// Spawning. The agent prepares everything (argv, environment, user, cgroup, pipes) and sends it;
// the keeper starts the child with clone(CLONE_VM) on a stack of its own (sharing the keeper's
// memory until exec, as after vfork, but without stopping the keeper), and the child runs
// spawn.h's child side. An exec failure comes back as the step and errno that failed; a child
// stuck before exec (a chdir on a dead mount) holds up neither the keeper nor other spawns. The keeper keeps a duplicate of
// each task's pipe read ends and copy files, so a task's output survives an agent crash (what it
// writes meanwhile waits in the pipe).
//
// The lease. The agent renews it with each grant (an expiry on CLOCK_MONOTONIC). When it runs out,
// the keeper sends SIGTERM to every task's group (after writing "node-lost" to its stop-reason
// file), SIGKILL after the grace, and kills its cgroup; a task it fenced is reported as fenced.
// Without a lease (a coordinator that grants none) a task is fenced as soon as the agent is gone.
// With a lease, the keeper waits for the agent's successor until the lease runs out, fences then,
// and exits once its tasks are gone and no agent is attached.
//
// Thread-safety: every method may be called from any thread; the handlers are called on the
// client's reader thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/agent/spawn.h"
#include "core/status.h"

namespace muster::agent {

// What the agent keeps of a task with the keeper, given back on adoption. Plain data.
struct KeptTaskInfo {
  static constexpr size_t kPathMax = 200;
  static constexpr size_t kNameMax = 63;
  int64_t job_id = 0;
  int64_t attempt = 0;
  int64_t start_ms = 0;         // wall time it started
  int64_t time_limit_ms = 0;    // 0 = none
  int64_t limit_grace_ms = 0;
  int64_t log_limit_bytes = 0;  // 0 = none
  int64_t memory_limit_bytes = 0;
  uint64_t start_ticks = 0;
  int32_t task_index = 0;
  int32_t owner_uid = -1;  // the log files' owner, when not the agent's user
  int32_t owner_gid = -1;
  char cgroup[kNameMax + 1] = {};           // its cgroup's name in the agent's tree, or ""
  char kill_file[kPathMax + 1] = {};       // its cgroup.kill (or a v1 equivalent), or ""
  char stop_reason_file[kPathMax + 1] = {};
};

// A task a crashed agent left with the keeper.
struct AdoptedTask {
  KeptTaskInfo info;
  int pid = 0;
  bool exited = false;
  int wait_status = 0;
  bool fenced = false;
  int out_read = -1, err_read = -1;  // its pipes (close-on-exec); the caller owns them
  int out_copy = -1, err_copy = -1;  // its --output/--error files, or -1
};

class TaskKeeper {
 public:
  static constexpr int kSlots = 4096;  // tasks kept at once
  static constexpr int64_t kPollMs = 50;


  // Attaches to the keeper of `name` that a previous agent left running, or forks a new one.
  // `name` identifies the agent (its name and work dir); grace_ms is the fence's stop grace.
  static Result<std::unique_ptr<TaskKeeper>> Start(const std::string& name, int64_t grace_ms);
  // Tells the keeper to exit (it kills what still runs) and waits for the reader thread.
  ~TaskKeeper();
  TaskKeeper(const TaskKeeper&) = delete;
  TaskKeeper& operator=(const TaskKeeper&) = delete;

  // True when Start found a keeper a previous agent had left.
  bool attached() const { return attached_; }
  // The tasks that keeper still held (each once).
  std::vector<AdoptedTask> TakeAdopted();

  // Called with each task's end: its wait status, and whether the fence stopped it.
  using ExitFn = std::function<void(int pid, int wait_status, bool fenced)>;
  // Called once if the keeper goes away (its tasks are then nobody's).
  using LostFn = std::function<void()>;
  // Ends reported before the handler was set are passed to it now. When this returns with null
  // handlers, no handler call is running.
  void SetHandlers(ExitFn on_exit, LostFn on_lost);

  // Starts the task; waits for the keeper's answer. The keeper keeps duplicates of out_read and
  // err_read (the pipes' read ends, which the caller keeps too). req.parent_death_signal is not
  // used: the tasks must outlive a crashed agent.
  SpawnResult Spawn(const SpawnRequest& req, const KeptTaskInfo& info, int out_read, int err_read);
  // The agent is done with the task (its end was reported): the keeper drops it.
  void Forget(int pid);

  // The monotonic clock the lease is measured on, in ms.
  static int64_t NowMs();
  // The lease runs until expiry_ms (NowMs scale); an expiry earlier than the current one is
  // ignored (grants may arrive out of order).
  void Renew(int64_t expiry_ms);
  void SetGrace(int64_t grace_ms);
  int64_t expiry_ms() const { return expiry_.load(); }
  // True when a lease was granted and has run out.
  bool Expired() const;
  // True once the keeper has gone away (not by this object's destructor).
  bool Lost();
  pid_t keeper_pid() const { return keeper_pid_.load(); }

 private:
  struct Waiter;
  TaskKeeper(int sock, pid_t keeper_pid, bool attached);
  bool Send(const void* msg, size_t n, const int* fds, int nfds);
  void Read();

  const int sock_;
  const bool own_child_;  // forked by this process (reaped by the destructor)
  const bool attached_;
  std::atomic<pid_t> keeper_pid_;
  std::atomic<int64_t> expiry_{0};
  std::mutex send_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Waiter*> waiters_;  // GUARDED_BY(mu_)
  uint64_t next_id_ = 1;                 // GUARDED_BY(mu_)
  std::vector<AdoptedTask> adopted_;         // GUARDED_BY(mu_)
  bool adopt_done_ = false;              // GUARDED_BY(mu_)
  bool lost_ = false;                    // GUARDED_BY(mu_)
  bool closing_ = false;                 // GUARDED_BY(mu_)
  std::string busy_;                     // GUARDED_BY(mu_): why the keeper refused us
  struct Exit {
    int pid, wait_status;
    bool fenced;
  };
  // The handlers are called with handler_mu_ held (and mu_ not), so that SetHandlers(nullptr,
  // nullptr) returns only once no call is in flight.
  std::mutex handler_mu_;
  std::vector<Exit> early_exits_;        // GUARDED_BY(handler_mu_): before SetHandlers
  ExitFn on_exit_;                       // GUARDED_BY(handler_mu_)
  LostFn on_lost_;                       // GUARDED_BY(handler_mu_)
  std::thread reader_;
};

}  // namespace muster::agent
