// See task_list.h.
#include "cluster/agent/task_list.h"

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cluster/agent/usage.h"

namespace muster::agent {

bool WriteTaskList(const std::string& path, const std::vector<RecordedTask>& tasks) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    for (const auto& t : tasks)
      out << t.job_id << ' ' << t.task_index << ' ' << t.attempt << ' ' << t.pid << ' '
          << t.start_ticks << '\n';
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::vector<RecordedTask> ReadTaskList(const std::string& path) {
  std::vector<RecordedTask> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    RecordedTask t;
    if (ls >> t.job_id >> t.task_index >> t.attempt >> t.pid >> t.start_ticks && t.pid > 1)
      out.push_back(t);
  }
  return out;
}

uint64_t ProcessStartTicks(const std::string& proc_root, int pid) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/stat");
  std::stringstream ss;
  ss << in.rdbuf();
  auto st = ParseProcStat(ss.str());
  return st ? st->start_ticks : 0;
}

std::vector<RecordedTask> KillLeftoverTasks(const std::string& path, const std::string& proc_root) {
  std::vector<RecordedTask> killed;
  for (const auto& t : ReadTaskList(path)) {
    const uint64_t start = ProcessStartTicks(proc_root, t.pid);
    if (start == 0 || start != t.start_ticks) continue;
    kill(-t.pid, SIGKILL);
    kill(t.pid, SIGKILL);
    killed.push_back(t);
  }
  WriteTaskList(path, {});
  return killed;
}

}  // namespace muster::agent
