// A std::mutex that clang's thread-safety analysis understands (core/thread_annotations.h), and
// its scoped lock. Waiting on a condition: std::condition_variable_any with a MutexLock, whose
// lock()/unlock() the condition variable calls while the analysis still sees the lock held.
#pragma once

#include <mutex>

#include "core/thread_annotations.h"

namespace muster {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds `mu` for its lifetime. Lockable itself (lock/unlock), for condition_variable_any.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // For condition_variable_any::wait only: the analysis treats the lock as held throughout.
  void lock() NO_THREAD_SAFETY_ANALYSIS { mu_.lock(); }
  void unlock() NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }

 private:
  Mutex& mu_;
};

}  // namespace muster
