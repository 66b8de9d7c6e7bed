// See task_cgroup.h.
#include "cluster/agent/task_cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cluster/agent/usage.h"

namespace muster::agent {

namespace fs = std::filesystem;

namespace {

constexpr long kCgroup2Magic = 0x63677270;  // CGROUP2_SUPER_MAGIC
constexpr long kCgroupMagic = 0x27e0eb;     // CGROUP_SUPER_MAGIC (v1)

long FsType(const std::string& path) {
  struct statfs s {};
  if (statfs(path.c_str(), &s) != 0) return 0;
  return static_cast<long>(s.f_type);
}

bool WriteFile(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep || c == '\n' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The number after `key` in a flat-keyed file ("oom_kill 3", "usage_usec 120"); -1 if absent.
int64_t KeyedValue(const std::string& path, const std::string& key) {
  const std::string text = ReadSmallFile(path);
  for (size_t at = 0; at < text.size();) {
    const size_t eol = std::min(text.find('\n', at), text.size());
    if (text.compare(at, key.size(), key) == 0 && at + key.size() < eol &&
        text[at + key.size()] == ' ')
      return std::strtoll(text.c_str() + at + key.size() + 1, nullptr, 10);
    at = eol + 1;
  }
  return -1;
}

int64_t NumberIn(const std::string& path) {
  const std::string text = ReadSmallFile(path);
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  return end == text.c_str() ? -1 : v;
}

// The calling process's cgroup path in the v1 hierarchy of `controller` ("/" if not listed).
std::string OwnV1Path(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    if (Contains(Split(line.substr(a + 1, b - a - 1), ','), controller)) return line.substr(b + 1);
  }
  return "/";
}

constexpr int64_t kCpuPeriodUs = 100000;

std::string CpuQuotaUs(int64_t milli_cpus) {
  return std::to_string(std::max<int64_t>(1000, milli_cpus * kCpuPeriodUs / 1000));
}

}  // namespace

bool JoinCgroup(int procs_fd) {
  return write(procs_fd, "0", 1) == 1;  // "0": the writer itself
}

bool V2CgroupPopulated(const std::string& dir) {
  return ReadSmallFile(dir + "/cgroup.events").find("populated 0") == std::string::npos;
}

Result<CgroupTree> CgroupTree::Open(const std::string& agent_name,
                                    const std::string& root_override) {
  std::string hierarchy;
  bool v2 = false;
  if (!root_override.empty()) {
    hierarchy = root_override;
    v2 = fs::exists(root_override + "/cgroup.procs") &&
         !fs::exists(root_override + "/tasks");  // v1 directories also have "tasks"
  } else if (FsType("/sys/fs/cgroup") == kCgroup2Magic) {
    hierarchy = "/sys/fs/cgroup";
    v2 = true;
  } else if (FsType("/sys/fs/cgroup/unified") == kCgroup2Magic) {
    hierarchy = "/sys/fs/cgroup/unified";
    v2 = true;
  } else if (FsType("/sys/fs/cgroup/pids") == kCgroupMagic) {
    hierarchy = "/sys/fs/cgroup/pids";
  } else {
    return Status::NotFound("no cgroup hierarchy is mounted (looked for v2 at /sys/fs/cgroup and "
                            "/sys/fs/cgroup/unified, v1 pids at /sys/fs/cgroup/pids)");
  }
  CgroupTree t;
  t.v2_ = v2;
  t.dir_ = hierarchy + "/muster." + agent_name;
  if (mkdir(t.dir_.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::FailedPrecondition("cannot create " + t.dir_ + ": " + std::strerror(errno));
  // Probe: creating a cgroup and moving a process into it must both work (a read-only hierarchy,
  // or one delegated to someone else, fails one of them), else tasks could not be started.
  const std::string probe = t.dir_ + "/probe." + std::to_string(getpid());
  if (mkdir(probe.c_str(), 0755) != 0)
    return Status::FailedPrecondition("cannot create cgroups under " + t.dir_ + ": " +
                                      std::strerror(errno));
  const int procs = open((probe + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  bool joined = false;
  int join_errno = errno;
  if (procs >= 0) {
    const pid_t child = fork();
    if (child == 0) _exit(JoinCgroup(procs) ? 0 : 1);  // the agent may already have threads
    int st = 0;
    joined = child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    join_errno = EPERM;
    close(procs);
  }
  rmdir(probe.c_str());
  if (!joined)
    return Status::FailedPrecondition("cannot move processes into cgroups under " + t.dir_ + ": " +
                                      std::strerror(join_errno));
  if (t.v2_) {
    // Enable for the attempts whatever of memory, cpu and pids the parent passes down.
    const std::vector<std::string> offered =
        Split(ReadSmallFile(t.dir_ + "/cgroup.controllers"), ' ');
    for (const char* c : {"memory", "cpu", "pids"})
      if (Contains(offered, c)) WriteFile(t.dir_ + "/cgroup.subtree_control", std::string("+") + c);
    t.v2_controllers_ = Split(ReadSmallFile(t.dir_ + "/cgroup.subtree_control"), ' ');
  }
  if (!root_override.empty()) return t;  // a test's hierarchy: no others
  std::vector<std::string> seen;
  for (const char* c : {"memory", "cpu", "cpuacct", "pids", "devices"}) {
    if (t.V2Has(c) || t.ExtraWith(c) || (!t.v2_ && std::string(c) == "pids")) continue;
    const std::string mount = std::string("/sys/fs/cgroup/") + c;
    if (FsType(mount) != kCgroupMagic) continue;
    std::error_code ec;
    const std::string real = fs::canonical(mount, ec).string();  // cpu -> cpu,cpuacct
    if (ec || Contains(seen, real)) continue;
    seen.push_back(real);
    std::string own = OwnV1Path(c);
    if (own.empty() || own.back() != '/') own += '/';
    Extra e{Split(fs::path(real).filename().string(), ','),
            mount + own + "muster." + agent_name, false};
    if (mkdir(e.dir.c_str(), 0755) != 0 && errno != EEXIST) {
      spdlog::warn("cannot create {}: {}; its controllers are not used", e.dir,
                   std::strerror(errno));
      continue;
    }
    e.memsw = e.Has("memory") && fs::exists(e.dir + "/memory.memsw.limit_in_bytes");
    t.extras_.push_back(std::move(e));
  }
  return t;
}

bool CgroupTree::Extra::Has(const std::string& c) const { return Contains(controllers, c); }

const CgroupTree::Extra* CgroupTree::ExtraWith(const std::string& controller) const {
  for (const Extra& e : extras_)
    if (e.Has(controller)) return &e;
  return nullptr;
}

bool CgroupTree::V2Has(const std::string& controller) const {
  return v2_ && Contains(v2_controllers_, controller);
}

std::vector<std::string> CgroupTree::Controllers() const {
  std::vector<std::string> out;
  for (const char* c : {"memory", "cpu", "cpuacct", "pids", "devices"}) {
    if (V2Has(c))
      out.push_back(std::string(c) + " (v2)");
    else if (ExtraWith(c) || (!v2_ && std::string(c) == "pids"))
      out.push_back(std::string(c) + " (v1)");
  }
  return out;
}

std::string CgroupTree::Describe() const {
  std::string out = std::string(v2_ ? "cgroup v2" : "cgroup v1 (pids)") + " at " + dir_;
  const std::vector<std::string> used = Controllers();
  if (used.empty()) return out + "; no resource controllers: limits are not enforced";
  out += "; limits by";
  for (size_t i = 0; i < used.size(); ++i) out += (i ? ", " : " ") + used[i];
  return out;
}

std::string CgroupTree::KillFileOf(const std::string& name) const {
  return v2_ ? PathOf(name) + "/cgroup.kill" : "";
}

bool CgroupTree::Needs(const Extra& e, const TaskLimits& limits) const {
  // A hierarchy none of whose controllers this task needs is skipped: making and removing a
  // cgroup costs the kernel more than the rest of a short task's launch. Memory is kept for the
  // peak it measures, cpuacct where it is the only CPU-time meter (no v2).
  return e.Has("memory") || (limits.milli_cpus > 0 && e.Has("cpu")) ||
         (limits.pids > 0 && e.Has("pids")) ||
         (!limits.denied_minors.empty() && e.Has("devices")) || (!v2_ && e.Has("cpuacct"));
}

uint32_t CgroupTree::ShapeOf(const TaskLimits& limits) const {
  uint32_t shape = 0;
  for (size_t i = 0; i < extras_.size(); ++i)
    if (Needs(extras_[i], limits)) shape |= 1u << i;
  return shape;
}

bool CgroupTree::Reusable(uint32_t shape) const {
  // v2's memory.peak resets only per open file (and only on recent kernels); a devices cgroup
  // keeps the rules of its first task.
  if (V2Has("memory")) return false;
  for (size_t i = 0; i < extras_.size(); ++i)
    if ((shape & (1u << i)) && extras_[i].Has("devices")) return false;
  return true;
}

Result<CreatedCgroup> CgroupTree::Create(const std::string& name, const TaskLimits& limits) const {
  const std::string path = PathOf(name);
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::Internal("cannot create cgroup " + path + ": " + std::strerror(errno));
  CreatedCgroup out;
  out.shape = ShapeOf(limits);
  for (size_t i = 0; i < extras_.size(); ++i) {
    if (!(out.shape & (1u << i))) continue;
    const std::string p = extras_[i].dir + "/" + name;
    if (mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
      for (const std::string& c : extras_[i].controllers)
        out.not_enforced.push_back(c + ": cannot create " + p + ": " + std::strerror(errno));
      out.shape &= ~(1u << i);
    }
  }
  if (Status s = Fill(name, limits, Limits::kFresh, &out); !s.ok()) {
    Remove(name);
    return s;
  }
  return out;
}

Result<CreatedCgroup> CgroupTree::Reuse(const std::string& name, uint32_t shape,
                                        const TaskLimits& limits, const IdleCgroup* now) const {
  // What the last task left charged to it counts against this task's memory limit: more than an
  // eighth of the limit is reclaimed, and a cgroup still above that is not used for this task.
  if (limits.memory_bytes > 0 && !ChargeAtMost(name, shape, limits.memory_bytes / 8))
    return Status::FailedPrecondition(
        "its last task left more charged to it than this task's memory limit allows");
  CreatedCgroup out;
  out.shape = shape;
  const bool as_is = now != nullptr && now->limits == limits;
  if (as_is) out.not_enforced = now->not_enforced;
  if (Status s = Fill(name, limits, as_is ? Limits::kAsIs : Limits::kRewrite, &out); !s.ok()) {
    for (int fd : out.procs_fds) close(fd);
    return s;
  }
  if (now != nullptr) {
    out.since = now->totals;
  } else {
    const CgroupUsage u = Measure(name);
    out.since.cpu_seconds = std::max(0.0, u.cpu_seconds);
    out.since.oom_kills = u.oom_kills;
  }
  return out;
}

bool CgroupTree::Recycle(const std::string& name, uint32_t shape) const {
  // What the last task left charged to its memory cgroup (its page cache) is reclaimed, so that
  // the next task's limit and peak start from (almost) nothing. Only past 4 MiB: the reclaim
  // loops over the cgroup's pages however few there are, and that costs the kernel more than a
  // new cgroup when the task was short; what is left counts in the next task's peak.
  return Procs(name).empty() && ChargeAtMost(name, shape, 4 << 20);
}

bool CgroupTree::ChargeAtMost(const std::string& name, uint32_t shape, int64_t bytes) const {
  for (size_t i = 0; i < extras_.size(); ++i) {
    if (!(shape & (1u << i)) || !extras_[i].Has("memory")) continue;
    const std::string p = extras_[i].dir + "/" + name;
    if (NumberIn(p + "/memory.usage_in_bytes") > bytes &&
        (!WriteFile(p + "/memory.force_empty", "0") ||
         NumberIn(p + "/memory.usage_in_bytes") > bytes))
      return false;
  }
  return true;
}

Status CgroupTree::Fill(const std::string& name, const TaskLimits& limits, Limits how,
                        CreatedCgroup* out) const {
  const std::string path = PathOf(name);
  // v2: cgroup.procs, which the keeper turns into clone3's CLONE_INTO_CGROUP; v1: "tasks" (below).
  const std::string join = path + (v2_ ? "/cgroup.procs" : "/tasks");
  const int fd = open(join.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + join + ": " + std::strerror(errno));
  out->procs_fds.push_back(fd);
  // A fresh cgroup has no limits: only those asked for are written. A reused one gets each limit
  // again, "none" where this task asks for none; as it is, it keeps its last task's (the same).
  const bool fresh = how == Limits::kFresh, write = how != Limits::kAsIs;
  const bool memory = limits.memory_bytes > 0, cpu = limits.milli_cpus > 0, pids = limits.pids > 0;
  // Sets one limit file; a failure is listed as not enforced.
  auto set = [&](const std::string& what, const std::string& file, const std::string& value) {
    if (WriteFile(file, value)) return true;
    out->not_enforced.push_back(what + ": cannot write " + file + ": " + std::strerror(errno));
    return false;
  };
  const std::string bytes = std::to_string(limits.memory_bytes);
  const std::string period = std::to_string(kCpuPeriodUs);
  const std::string pids_max = pids ? std::to_string(limits.pids) : "max";
  if (write) {
    if ((memory || !fresh) && V2Has("memory") &&
        set("memory", path + "/memory.max", memory ? bytes : "max"))
      WriteFile(path + "/memory.swap.max", memory ? "0" : "max");  // absent without swap accounting
    if ((cpu || !fresh) && V2Has("cpu"))
      set("cpu", path + "/cpu.max", (cpu ? CpuQuotaUs(limits.milli_cpus) : "max") + " " + period);
    if ((pids || !fresh) && (V2Has("pids") || !v2_))  // on v1 the primary is the pids one
      set("pids", path + "/pids.max", pids_max);
  }
  for (size_t i = 0; i < extras_.size(); ++i) {
    if (!(out->shape & (1u << i))) continue;
    const Extra& e = extras_[i];
    const std::string p = e.dir + "/" + name;
    if (e.Has("memory") && !fresh)
      WriteFile(p + "/memory.max_usage_in_bytes", "0");  // the peak starts again
    if (write && e.Has("memory") && (memory || !fresh)) {
      if (!fresh && e.memsw) WriteFile(p + "/memory.memsw.limit_in_bytes", "-1");  // >= limit
      if (set("memory", p + "/memory.limit_in_bytes", memory ? bytes : "-1") && memory && e.memsw)
        set("memory", p + "/memory.memsw.limit_in_bytes", bytes);  // no swapping past the limit
    }
    if (write && e.Has("cpu") && (cpu || !fresh)) {
      if (cpu && fresh) set("cpu", p + "/cpu.cfs_period_us", period);
      set("cpu", p + "/cpu.cfs_quota_us", cpu ? CpuQuotaUs(limits.milli_cpus) : "-1");
    }
    if (write && e.Has("pids") && (pids || !fresh)) set("pids", p + "/pids.max", pids_max);
    if (e.Has("devices"))  // never reused (Reusable): a fresh cgroup's rules
      for (int minor : limits.denied_minors)
        set("devices", p + "/devices.deny",
            "c " + std::to_string(limits.device_major) + ":" + std::to_string(minor) + " rwm");
    // "tasks", not cgroup.procs: the child is one thread, and moving the writer's own thread
    // ("0") takes no global lock, where cgroup.procs makes the kernel wait for an RCU grace
    // period (10-16 ms measured here after a quiet spell).
    const int efd = open((p + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
    if (efd >= 0)
      out->procs_fds.push_back(efd);
    else
      for (const std::string& c : e.controllers)
        out->not_enforced.push_back(c + ": cannot open " + p + "/tasks: " + std::strerror(errno));
  }
  if (!write) return Status::Ok();  // what was not enforced was said for the last task, and kept
  auto missing = [&](bool asked, const char* c) {
    if (asked && !V2Has(c) && !ExtraWith(c))
      out->not_enforced.push_back(std::string(c) + ": no " + c + " controller on this node");
  };
  missing(memory, "memory");
  missing(cpu, "cpu");
  if (v2_) missing(pids, "pids");
  if (!limits.denied_minors.empty() && !ExtraWith("devices"))
    out->not_enforced.push_back(
        v2_ ? "devices: cgroup v2 controls devices only by an eBPF program, which muster does "
              "not load"
            : "devices: no devices controller on this node");
  return Status::Ok();
}

CgroupUsage CgroupTree::Measure(const std::string& name) const {
  CgroupUsage u;
  if (V2Has("memory")) {
    u.peak_memory_bytes = NumberIn(PathOf(name) + "/memory.peak");  // kernels 5.19+
    u.oom_kills = std::max<int64_t>(0, KeyedValue(PathOf(name) + "/memory.events", "oom_kill"));
  } else if (const Extra* e = ExtraWith("memory")) {
    const std::string p = e->dir + "/" + name;
    u.peak_memory_bytes = NumberIn(p + "/memory.max_usage_in_bytes");
    u.oom_kills = std::max<int64_t>(0, KeyedValue(p + "/memory.oom_control", "oom_kill"));
  }
  if (v2_) {
    const int64_t us = KeyedValue(PathOf(name) + "/cpu.stat", "usage_usec");
    if (us >= 0) u.cpu_seconds = static_cast<double>(us) / 1e6;
  } else if (const Extra* e = ExtraWith("cpuacct")) {
    const int64_t ns = NumberIn(e->dir + "/" + name + "/cpuacct.usage");
    if (ns >= 0) u.cpu_seconds = static_cast<double>(ns) / 1e9;
  }
  return u;
}

CgroupUsage CgroupTree::Usage(const std::string& name, const CgroupBaseline& since) const {
  CgroupUsage u = Measure(name);
  if (u.cpu_seconds >= 0) u.cpu_seconds = std::max(0.0, u.cpu_seconds - since.cpu_seconds);
  u.oom_kills = std::max<int64_t>(0, u.oom_kills - since.oom_kills);
  return u;
}

std::vector<int> CgroupTree::Procs(const std::string& name) const {
  std::vector<int> out;
  const std::string text = ReadSmallFile(PathOf(name) + "/cgroup.procs");
  const char* p = text.c_str();
  char* end = nullptr;
  for (long pid = std::strtol(p, &end, 10); end != p; pid = std::strtol(p, &end, 10)) {
    out.push_back(static_cast<int>(pid));
    p = end;
  }
  return out;
}

bool CgroupTree::Kill(const std::string& name) const {
  if (!fs::exists(PathOf(name))) return true;
  const bool kill_file = v2_ && WriteFile(KillFileOf(name), "1");
  for (int round = 0; round < 100; ++round) {
    const std::vector<int> procs = Procs(name);
    if (procs.empty()) return true;
    if (!kill_file)
      for (int pid : procs) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Procs(name).empty();
}

bool CgroupTree::KillNow(const std::string& name) const {
  if (v2_) {
    if (!V2CgroupPopulated(PathOf(name))) return false;
    if (WriteFile(KillFileOf(name), "1")) return true;
  }
  const std::vector<int> procs = Procs(name);
  for (int pid : procs) ::kill(pid, SIGKILL);
  return !procs.empty();
}

bool CgroupTree::Remove(const std::string& name) const {
  if (rmdir(PathOf(name).c_str()) != 0 && errno != ENOENT) return false;
  bool ok = true;
  for (const Extra& e : extras_)
    ok = (rmdir((e.dir + "/" + name).c_str()) == 0 || errno == ENOENT) && ok;
  return ok;
}

std::string CgroupAgentId(const std::string& name, const std::string& work_dir) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : work_dir) h = (h ^ c) * 1099511628211ull;
  char tag[16];
  std::snprintf(tag, sizeof tag, "%08llx", static_cast<unsigned long long>(h & 0xffffffffu));
  return name + "." + tag;
}

void CgroupTree::Clear() const {
  for (const std::string& name : List()) {
    Kill(name);
    Remove(name);
  }
  RemoveRoot();
}

void CgroupTree::RemoveRoot() const {
  rmdir(dir_.c_str());
  for (const Extra& e : extras_) {
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(e.dir, ec))  // left without a primary one
      if (d.is_directory() && !fs::exists(PathOf(d.path().filename().string())))
        rmdir(d.path().c_str());
    rmdir(e.dir.c_str());
  }
}

std::vector<std::string> CgroupTree::List() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace muster::agent
