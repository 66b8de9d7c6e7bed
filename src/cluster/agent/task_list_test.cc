#include "cluster/agent/task_list.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace muster::agent {
namespace {

TEST(TaskList, RoundTrip) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("muster-tasklist-" + std::to_string(getpid()));
  ASSERT_TRUE(WriteTaskList(path, {{1, 2, 3, 4444, 55}, {7, 0, 1, 8888, 99}}));
  auto l = ReadTaskList(path);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].job_id, 7);
  EXPECT_EQ(l[1].pid, 8888);
  EXPECT_EQ(l[0].start_ticks, 55u);
  std::filesystem::remove(path);
  EXPECT_TRUE(ReadTaskList(path).empty());
}

TEST(TaskList, KillsOnlyTheRecordedLiveProcess) {
  auto spawn = [] {
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      execl("/bin/sleep", "sleep", "30", nullptr);
      _exit(127);
    }
    setpgid(pid, pid);
    return pid;
  };
  pid_t live = spawn(), reused = spawn();
  usleep(50 * 1000);
  const uint64_t live_start = ProcessStartTicks("/proc", live);
  ASSERT_GT(live_start, 0u);
  const std::string path =
      std::filesystem::temp_directory_path() / ("muster-tasklist-kill-" + std::to_string(getpid()));
  // `reused` stands for a pid now held by another process: its start time does not match.
  ASSERT_TRUE(WriteTaskList(path, {{1, 0, 1, live, live_start},
                                   {2, 0, 1, reused, ProcessStartTicks("/proc", reused) + 1}}));
  auto killed = KillLeftoverTasks(path, "/proc");
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_EQ(killed[0].job_id, 1);
  int st = 0;
  ASSERT_EQ(waitpid(live, &st, 0), live);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_EQ(waitpid(reused, &st, WNOHANG), 0);  // still running
  kill(reused, SIGKILL);
  waitpid(reused, &st, 0);
  EXPECT_TRUE(ReadTaskList(path).empty());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace muster::agent
