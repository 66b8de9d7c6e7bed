// The node's side of the lease: a small keeper process that stops this agent's tasks when the
// coordinator has not answered for a lease, even while the agent itself is frozen (SIGSTOP, a VM
// pause, a swap storm) or dead.
//
// Start forks the keeper. It shares one anonymous shared-memory page set with the agent: the
// lease's expiry on CLOCK_MONOTONIC, the stop grace, and one slot per running task holding the
// task's process group. Every kPollMs the keeper checks the time: when the lease has run out, or
// the agent process is gone, it sends SIGTERM to each task's group, then SIGKILL after the grace,
// and marks the slot fenced, so that the agent reports the task as lost (not as failed) if it is
// there to see it end. It touches nothing but atomics and system calls (it is forked from a
// multi-threaded process), keeps its own process group (a signal to the agent's group does not
// reach it), closes every inherited descriptor, and exits once the agent is gone and every
// group it fenced has had its SIGKILL, or when the agent says so (Stop, the destructor).
//
// Without a lease (expiry 0, a coordinator that sends none) nothing is ever fenced.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace muster::agent {

class LeaseFence {
 public:
  static constexpr int kSlots = 4096;  // tasks running at once on one node
  static constexpr int64_t kPollMs = 50;

  // Maps the shared state and forks the keeper.
  static Result<std::unique_ptr<LeaseFence>> Start(int64_t grace_ms);
  // Stops the keeper (it fences nothing more) and reaps it.
  ~LeaseFence();
  LeaseFence(const LeaseFence&) = delete;
  LeaseFence& operator=(const LeaseFence&) = delete;

  // The monotonic clock the lease is measured on, in ms.
  static int64_t NowMs();
  // The lease runs until expiry_ms (NowMs() scale); an earlier expiry than the current one is
  // ignored (grants may arrive out of order).
  void Renew(int64_t expiry_ms);
  void SetGrace(int64_t grace_ms);
  int64_t expiry_ms() const;
  // True when a lease was granted and has run out.
  bool Expired() const;

  static constexpr size_t kKillPathMax = 200;
  // Watches the task whose process group is pgid (and, when kill_file is given, whose cgroup is
  // killed by writing "1" to that cgroup.kill); when reason_file is given, "node-lost" is written
  // there before the SIGTERM (the task's $MUSTER_STOP_REASON_FILE). Its slot, or -1 when every
  // slot is taken. Paths longer than kKillPathMax are not used.
  int Add(pid_t pgid, const std::string& kill_file = "", const std::string& reason_file = "");
  // Stops watching the slot; true if the keeper fenced its task meanwhile.
  bool Remove(int slot);
  // Whether the keeper has fenced the slot's task (it stays watched).
  bool Fenced(int slot) const;
  pid_t keeper_pid() const { return keeper_; }

  struct Shared;

 private:
  LeaseFence(Shared* shared, pid_t keeper) : shared_(shared), keeper_(keeper) {}
  Shared* shared_;
  pid_t keeper_;
};

}  // namespace muster::agent
