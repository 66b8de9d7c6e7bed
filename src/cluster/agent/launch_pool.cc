// See launch_pool.h.
#include "cluster/agent/launch_pool.h"

#include <algorithm>

namespace muster::agent {

namespace {

constexpr int64_t kNoKill = -1;

}  // namespace

LaunchPool::LaunchPool(RunFn run, KillFn kill) : run_(std::move(run)), kill_(std::move(kill)) {}

LaunchPool::~LaunchPool() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (auto& w : workers) w.join();
}

void LaunchPool::Submit(v1::Launch launch) {
  std::lock_guard lock(mu_);
  // A repeat of an attempt already here would be refused as stale anyway.
  const Key key{launch.job_id(), launch.task_index(), launch.attempt()};
  if (spawning_.contains(key) ||
      std::any_of(queue_.begin(), queue_.end(), [&](const v1::Launch& l) {
        return Key{l.job_id(), l.task_index(), l.attempt()} == key;
      }))
    return;
  queue_.push_back(std::move(launch));
  if (idle_ < static_cast<int>(queue_.size()) && static_cast<int>(workers_.size()) < kMaxWorkers)
    workers_.emplace_back([this] { Work(); });
  else
    cv_.notify_one();
}

LaunchPool::Cancelled LaunchPool::Cancel(int64_t job_id, int32_t task_index, int64_t attempt,
                                         int64_t grace_ms) {
  std::lock_guard lock(mu_);
  auto queued = std::find_if(queue_.begin(), queue_.end(), [&](const v1::Launch& l) {
    return l.job_id() == job_id && l.task_index() == task_index && l.attempt() == attempt;
  });
  if (queued != queue_.end()) {
    queue_.erase(queued);
    return Cancelled::kDropped;
  }
  auto it = spawning_.find({job_id, task_index, attempt});
  if (it == spawning_.end()) return Cancelled::kNotHere;
  it->second = std::max<int64_t>(grace_ms, 0);
  return Cancelled::kWillKill;
}

int LaunchPool::workers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(workers_.size());
}

size_t LaunchPool::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + spawning_.size();
}

void LaunchPool::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping, with nothing left to run
    v1::Launch l = std::move(queue_.front());
    queue_.pop_front();
    const Key key{l.job_id(), l.task_index(), l.attempt()};
    spawning_[key] = kNoKill;
    lock.unlock();
    run_(l);
    lock.lock();
    const int64_t grace = spawning_[key];
    spawning_.erase(key);
    if (grace != kNoKill) {
      lock.unlock();
      kill_(l, grace);
      lock.lock();
    }
  }
}

}  // namespace muster::agent
