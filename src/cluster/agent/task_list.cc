// See task_list.h.
#include "cluster/agent/task_list.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
      out << "+ " << t.job_id << ' ' << t.task_index << ' ' << t.attempt << ' ' << t.pid << ' '
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
    char sign = '+';
    if (!line.empty() && (line[0] == '+' || line[0] == '-')) ls >> sign;
    RecordedTask t;
    if (sign == '-') {
      if (!(ls >> t.job_id >> t.task_index >> t.attempt)) continue;
      std::erase_if(out, [&](const RecordedTask& o) {
        return o.job_id == t.job_id && o.task_index == t.task_index && o.attempt == t.attempt;
      });
    } else if (ls >> t.job_id >> t.task_index >> t.attempt >> t.pid >> t.start_ticks && t.pid > 1) {
      out.push_back(t);
    }
  }
  return out;
}

TaskJournal::~TaskJournal() {
  if (fd_ >= 0) close(fd_);
}

bool TaskJournal::Compact(const std::vector<RecordedTask>& live) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (!WriteTaskList(path_, live)) return false;
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  recorded_ = live;
  lines_ = 0;
  return fd_ >= 0;
}

bool TaskJournal::Record(const std::vector<RecordedTask>& live) {
  auto same = [](const RecordedTask& a, const RecordedTask& b) {
    return a.job_id == b.job_id && a.task_index == b.task_index && a.attempt == b.attempt;
  };
  if (fd_ < 0 || lines_ > 4 * live.size() + 1024) return Compact(live);
  std::string text;
  size_t n = 0;
  for (const auto& r : recorded_)
    if (std::none_of(live.begin(), live.end(), [&](const auto& l) { return same(l, r); })) {
      text += "- " + std::to_string(r.job_id) + ' ' + std::to_string(r.task_index) + ' ' +
              std::to_string(r.attempt) + '\n';
      ++n;
    }
  for (const auto& l : live)
    if (std::none_of(recorded_.begin(), recorded_.end(),
                     [&](const auto& r) { return same(l, r); })) {
      text += "+ " + std::to_string(l.job_id) + ' ' + std::to_string(l.task_index) + ' ' +
              std::to_string(l.attempt) + ' ' + std::to_string(l.pid) + ' ' +
              std::to_string(l.start_ticks) + '\n';
      ++n;
    }
  if (text.empty()) return true;
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t w = write(fd_, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Compact(live);  // a short or failed append: start over whole
    p += w;
    left -= static_cast<size_t>(w);
  }
  recorded_ = live;
  lines_ += n;
  return true;
}

uint64_t ProcessStartTicks(const std::string& proc_root, int pid) {
  auto st = ParseProcStat(ReadSmallFile(proc_root + "/" + std::to_string(pid) + "/stat"));
  return st ? st->start_ticks : 0;
}

std::vector<RecordedTask> KillLeftoverTasks(const std::string& path, const std::string& proc_root,
                                            const std::set<int>& keep) {
  std::vector<RecordedTask> killed;
  for (const auto& t : ReadTaskList(path)) {
    if (keep.contains(t.pid)) continue;
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
