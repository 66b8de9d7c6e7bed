// See usage.h.
#include "cluster/agent/usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "cluster/agent/gpu_driver.h"

namespace muster::agent {

std::string ReadSmallFile(const std::string& path) {
  std::string out;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::optional<ProcStat> ParseProcStat(const std::string& text) {
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  ProcStat s;
  s.pid = std::atoi(text.c_str());
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> tok;
  std::string t;
  while (in >> t && tok.size() < 20) tok.push_back(t);
  if (tok.size() < 13) return std::nullopt;
  // tok[0] = state (field 3), tok[2] = pgrp (5), tok[11] = utime (14), tok[12] = stime (15).
  char* end = nullptr;
  s.pgrp = static_cast<int>(std::strtol(tok[2].c_str(), &end, 10));
  if (*end) return std::nullopt;
  uint64_t ut = std::strtoull(tok[11].c_str(), &end, 10);
  if (*end) return std::nullopt;
  uint64_t st = std::strtoull(tok[12].c_str(), &end, 10);
  if (*end) return std::nullopt;
  s.cpu_ticks = ut + st;
  if (tok.size() >= 20) s.start_ticks = std::strtoull(tok[19].c_str(), &end, 10);
  return s;
}

std::optional<int64_t> ParseStatmResident(const std::string& text) {
  std::istringstream in(text);
  int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return std::nullopt;
  return resident;
}

std::map<int, GroupUsage> SampleGroups(const std::string& proc_root,
                                       const std::vector<int>& pgids) {
  std::map<int, GroupUsage> out;
  if (pgids.empty()) return out;
  std::set<int> wanted(pgids.begin(), pgids.end());
  static const long ticks = std::max(1L, sysconf(_SC_CLK_TCK));
  static const long page = std::max(1L, sysconf(_SC_PAGESIZE));
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) return out;
  while (dirent* d = readdir(dir)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    std::string base = proc_root + "/" + d->d_name;
    auto st = ParseProcStat(ReadSmallFile(base + "/stat"));
    if (!st || !wanted.contains(st->pgrp)) continue;
    GroupUsage& g = out[st->pgrp];
    g.cpu_seconds += static_cast<double>(st->cpu_ticks) / ticks;
    if (auto rss = ParseStatmResident(ReadSmallFile(base + "/statm"))) g.rss_bytes += *rss * page;
    ++g.processes;
  }
  closedir(dir);
  return out;
}

UsageSampler::UsageSampler(std::string proc_root, GpuDriver* driver, std::vector<int> gpu_indices)
    : proc_root_(std::move(proc_root)), driver_(driver), gpu_indices_(std::move(gpu_indices)) {}

v1::UsageSample UsageSampler::Sample(const std::vector<RunningTask>& running, int64_t now_ms) {
  v1::UsageSample s;
  s.set_time_ms(now_ms);
  std::vector<int> pgids;
  for (const auto& t : running) pgids.push_back(t.pid);
  auto groups = SampleGroups(proc_root_, pgids);
  double cpu_delta = 0;
  int64_t rss = 0;
  std::map<int, double> cpu_now;
  for (const auto& t : running) {
    auto it = groups.find(t.pid);
    if (it == groups.end()) continue;
    const GroupUsage& g = it->second;
    cpu_now[t.pid] = g.cpu_seconds;
    auto prev = last_cpu_.find(t.pid);
    // A group first seen contributes the CPU time it used since it started.
    double before = prev != last_cpu_.end() ? prev->second : 0.0;
    cpu_delta += std::max(0.0, g.cpu_seconds - before);
    rss += g.rss_bytes;
    v1::TaskUsage* tu = s.add_tasks();
    tu->set_job_id(t.job_id);
    tu->set_task_index(t.task_index);
    tu->set_attempt(t.attempt);
    tu->set_cpu_seconds(g.cpu_seconds);
    tu->set_rss_mib(g.rss_bytes / (1024 * 1024));
    tu->set_processes(g.processes);
  }
  const int64_t wall_ms = last_ms_ > 0 ? now_ms - last_ms_ : 0;
  s.set_cpu_load(wall_ms > 0 ? cpu_delta * 1000.0 / static_cast<double>(wall_ms) : 0.0);
  s.set_memory_used_mib(rss / (1024 * 1024));
  last_cpu_ = std::move(cpu_now);
  last_ms_ = now_ms;
  if (driver_ && !gpu_indices_.empty()) {
    for (const GpuReading& r : driver_->Read()) {
      if (std::find(gpu_indices_.begin(), gpu_indices_.end(), r.index) == gpu_indices_.end())
        continue;
      v1::GpuDevice* g = s.add_gpus();
      g->set_index(r.index);
      g->set_utilization(r.utilization);
      g->set_power_w(r.power_w);
      g->set_memory_used_mib(r.memory_used_mib);
    }
  }
  return s;
}

}  // namespace muster::agent
