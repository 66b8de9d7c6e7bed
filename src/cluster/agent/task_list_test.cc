#include "cluster/agent/task_list.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

// The journal appends what changed and replays to the live list; it compacts itself as it grows,
// and reads the older unsigned format too.
TEST(TaskList, JournalReplaysToTheLiveTasksAndCompacts) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("muster-journal-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  {
    TaskJournal j(path);
    std::vector<RecordedTask> live;
    for (int i = 0; i < 3000; ++i) {  // many starts and ends, at most 3 running at once
      live.push_back({9, i, 1, 1000 + i, static_cast<uint64_t>(i)});
      if (live.size() > 3) live.erase(live.begin());
      ASSERT_TRUE(j.Record(live));
      auto back = ReadTaskList(path);
      ASSERT_EQ(back.size(), live.size()) << "after " << i;
      EXPECT_EQ(back.back().task_index, i);
    }
    EXPECT_LT(std::filesystem::file_size(path), 3000u * 20);  // compacted on the way
    ASSERT_TRUE(j.Record({}));
    EXPECT_TRUE(ReadTaskList(path).empty());
  }
  {
    std::ofstream old(path, std::ios::trunc);
    old << "1 2 3 4444 55\n";
  }
  auto l = ReadTaskList(path);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].pid, 4444);
  std::filesystem::remove(path);
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
