// The agent's record of the tasks it runs, kept in WORK/tasks.running so that a restarted agent
// can find what a crashed (kill -9) predecessor left behind and kill it before serving again;
// otherwise the coordinator's next attempt would run beside a stale one.
//
// Format: one line per task, "job task attempt pid start_ticks", written to a temporary file
// and renamed, so a reader sees the old list or the new one. A recorded process is killed only
// if /proc/<pid>/stat still shows the same start time (pid reuse is not mistaken for it).
#pragma once

#include <cstdint>
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

// Replaces the list at `path`. Returns false if it could not be written.
bool WriteTaskList(const std::string& path, const std::vector<RecordedTask>& tasks);
// Reads the list; malformed lines are skipped, a missing file is an empty list.
std::vector<RecordedTask> ReadTaskList(const std::string& path);
// The start time of a live process, 0 if there is none with that pid.
uint64_t ProcessStartTicks(const std::string& proc_root, int pid);
// SIGKILLs the process group of every listed task that is still alive, then empties the list.
// Returns the tasks that were killed.
std::vector<RecordedTask> KillLeftoverTasks(const std::string& path, const std::string& proc_root);

}  // namespace muster::agent
