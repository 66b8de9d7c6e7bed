// Runs the agent's launches off the thread that reads its commands, so that one spawn that
// hangs holds up neither other launches nor kills nor lease renewals. (The child of a vfork
// shares its parent thread until exec: an exec or a chdir on a dead NFS mount stops the thread
// that forked, for as long as the mount stays dead.)
//
// Workers are long-lived threads: a task's parent-death signal fires when the thread that forked
// it ends, so a worker lives as long as the pool. One is started when a launch is queued while
// every worker is busy, up to kMaxWorkers, so the pool grows only as far as launches overlap.
//
// Cancel(attempt) is how a kill reaches a launch that has not started yet: a queued launch is
// taken out of the queue (the caller reports it as never started); one a worker is spawning is
// marked, and the worker calls the pool's kill as soon as its spawn returns.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "cluster/proto/muster.pb.h"

namespace muster::agent {

class LaunchPool {
 public:
  static constexpr int kMaxWorkers = 32;

  // Runs one launch (starts it or reports why not); called on a worker thread.
  using RunFn = std::function<void(const v1::Launch&)>;
  // Stops an attempt that was started after a Cancel arrived for it.
  using KillFn = std::function<void(const v1::Launch&, int64_t grace_ms)>;

  LaunchPool(RunFn run, KillFn kill);
  // Runs what is queued, then joins the workers (a spawn that hangs holds this up too).
  ~LaunchPool();
  LaunchPool(const LaunchPool&) = delete;
  LaunchPool& operator=(const LaunchPool&) = delete;

  // Queues the launch; returns at once.
  void Submit(v1::Launch launch);

  enum class Cancelled {
    kNotHere,   // neither queued nor being spawned: kill it in the launcher
    kDropped,   // taken out of the queue: it never starts
    kWillKill,  // being spawned: it is killed as soon as it has started
  };
  Cancelled Cancel(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms);

  int workers() const;
  // Launches queued or being spawned.
  size_t pending() const;

 private:
  using Key = std::tuple<int64_t, int32_t, int64_t>;
  void Work();

  const RunFn run_;
  const KillFn kill_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::Launch> queue_;      // GUARDED_BY(mu_)
  std::map<Key, int64_t> spawning_;   // GUARDED_BY(mu_): -1, or the grace of a kill
  int idle_ = 0;                      // GUARDED_BY(mu_)
  bool stopping_ = false;             // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;  // GUARDED_BY(mu_)
};

}  // namespace muster::agent
