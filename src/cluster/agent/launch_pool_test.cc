#include "cluster/agent/launch_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace muster::agent {
namespace {

using namespace std::chrono_literals;

v1::Launch L(int64_t job, int64_t attempt = 1) {
  v1::Launch l;
  l.set_job_id(job);
  l.set_task_index(0);
  l.set_attempt(attempt);
  return l;
}

// A stand-in for Launcher::Launch whose spawn of job 1 hangs until released (a dead mount).
struct FakeLauncher {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::set<int64_t> started, killed;
  std::map<int64_t, int64_t> grace;

  void Run(const v1::Launch& l) {
    std::unique_lock lock(mu);
    if (l.job_id() == 1) cv.wait(lock, [&] { return release; });
    started.insert(l.job_id());
    cv.notify_all();
  }
  void Kill(const v1::Launch& l, int64_t g) {
    std::lock_guard lock(mu);
    killed.insert(l.job_id());
    grace[l.job_id()] = g;
    cv.notify_all();
  }
  bool WaitStarted(int64_t job) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return started.contains(job); });
  }
  bool WaitKilled(int64_t job) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 5s, [&] { return killed.contains(job); });
  }
  void Release() {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
};

TEST(LaunchPool, AHungSpawnHoldsUpNeitherOtherLaunchesNorKills) {
  FakeLauncher f;
  LaunchPool pool([&](const v1::Launch& l) { f.Run(l); },
                  [&](const v1::Launch& l, int64_t g) { f.Kill(l, g); });
  pool.Submit(L(1));  // hangs
  for (int64_t job = 2; job <= 5; ++job) pool.Submit(L(job));
  for (int64_t job = 2; job <= 5; ++job) EXPECT_TRUE(f.WaitStarted(job)) << job;
  EXPECT_GE(pool.workers(), 2);
  // A worker leaves its launch's entry just after the spawn returns: wait for 2..5 to go.
  for (int i = 0; i < 1000 && pool.pending() > 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(pool.pending(), 1u);  // job 1, still in its spawn
  // A kill for the hung one is remembered and carried out once its spawn returns.
  EXPECT_EQ(pool.Cancel(1, 0, 1, 700), LaunchPool::Cancelled::kWillKill);
  EXPECT_EQ(pool.Cancel(2, 0, 1, 0), LaunchPool::Cancelled::kNotHere);  // the launcher's now
  f.Release();
  EXPECT_TRUE(f.WaitStarted(1));
  EXPECT_TRUE(f.WaitKilled(1));
  EXPECT_EQ(f.grace[1], 700);
  EXPECT_FALSE(f.killed.contains(2));
}

TEST(LaunchPool, AQueuedLaunchThatIsCancelledNeverStarts) {
  FakeLauncher f;
  std::atomic<int> runs{0};
  LaunchPool pool(
      [&](const v1::Launch& l) {
        ++runs;
        f.Run(l);
      },
      [&](const v1::Launch& l, int64_t g) { f.Kill(l, g); });
  // Fill every worker with a hung spawn so that the next launch stays queued.
  for (int i = 0; i < LaunchPool::kMaxWorkers; ++i) pool.Submit(L(1, i + 1));
  for (int i = 0; i < 200 && runs < LaunchPool::kMaxWorkers; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(runs, LaunchPool::kMaxWorkers);
  pool.Submit(L(9));
  EXPECT_EQ(pool.workers(), LaunchPool::kMaxWorkers);  // capped
  EXPECT_EQ(pool.Cancel(9, 0, 1, 0), LaunchPool::Cancelled::kDropped);
  EXPECT_EQ(pool.Cancel(9, 0, 1, 0), LaunchPool::Cancelled::kNotHere);
  pool.Submit(L(10));
  f.Release();
  EXPECT_TRUE(f.WaitStarted(10));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(f.mu);
  EXPECT_FALSE(f.started.contains(9));
  EXPECT_TRUE(f.killed.empty());
}

TEST(LaunchPool, ARepeatedLaunchOfAnAttemptHereIsIgnoredAndTheQueueRunsOutOnDestruction) {
  FakeLauncher f;
  std::atomic<int> runs{0};
  {
    LaunchPool pool(
        [&](const v1::Launch& l) {
          ++runs;
          f.Run(l);
        },
        [&](const v1::Launch& l, int64_t g) { f.Kill(l, g); });
    pool.Submit(L(1));
    pool.Submit(L(1));  // the same attempt again, while the first is spawning
    for (int i = 0; i < 200 && runs < 1; ++i) std::this_thread::sleep_for(5ms);
    f.Release();
  }  // joins: whatever was queued has run
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(f.started.contains(1));
}

}  // namespace
}  // namespace muster::agent
