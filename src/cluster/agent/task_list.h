// The agent's record of the tasks it runs, kept in WORK/tasks.running so that a restarted agent
// can find what a crashed (kill -9) predecessor left behind and kill it before serving again;
// otherwise the coordinator's next attempt would run beside a stale one.
//
// Format: a journal of lines "+ job task attempt pid start_ticks" (started) and
// "- job task attempt" (ended), appended with one write each, so recording a task costs no new
// file; replaying it gives the running list. When the journal has grown well past the live tasks
// it is compacted: the list is written to a temporary file as "+" lines and renamed, so a reader
// sees the old journal or the new one. (A line without a sign, the older format, counts as "+".)
// A recorded process is killed only if /proc/<pid>/stat still shows the same start time (pid
// reuse is not mistaken for it).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace muster::agent {

struct RecordedTask {
  int64_t job_id = 0;
  int32_t task_index = 0;
  int64_t attempt = 0;
  int pid = 0;  // process group leader
  uint64_t start_ticks = 0;
};

// The journal a launcher keeps: Record() appends what changed since the last call.
// Not thread-safe (the launcher calls it under its lock).
class TaskJournal {
 public:
  explicit TaskJournal(std::string path) : path_(std::move(path)) {}
  ~TaskJournal();
  TaskJournal(const TaskJournal&) = delete;
  TaskJournal& operator=(const TaskJournal&) = delete;
  // Makes the journal say that exactly `live` run now. Returns false if it could not be written.
  bool Record(const std::vector<RecordedTask>& live);

 private:
  bool Compact(const std::vector<RecordedTask>& live);
  std::string path_;
  int fd_ = -1;
  std::vector<RecordedTask> recorded_;  // what the journal says runs
  size_t lines_ = 0;                    // lines appended since the last compaction
};

// Replaces the list at `path` (a compacted journal). Returns false if it could not be written.
bool WriteTaskList(const std::string& path, const std::vector<RecordedTask>& tasks);
// Reads the list; malformed lines are skipped, a missing file is an empty list.
std::vector<RecordedTask> ReadTaskList(const std::string& path);
// The start time of a live process, 0 if there is none with that pid.
uint64_t ProcessStartTicks(const std::string& proc_root, int pid);
// SIGKILLs the process group of every listed task that is still alive, except those whose pid is
// in `keep` (adopted from the task keeper), then empties the list. Returns the tasks killed.
std::vector<RecordedTask> KillLeftoverTasks(const std::string& path, const std::string& proc_root,
                                            const std::set<int>& keep = {});

}  // namespace muster::agent
