// See task_cgroup.h.
#include "cluster/agent/task_cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

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

}  // namespace

bool JoinCgroup(int procs_fd) {
  char digits[16], text[16];
  int n = 0;
  for (pid_t p = getpid(); p > 0 && n < 15; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
  for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
  return write(procs_fd, text, static_cast<size_t>(n)) == n;
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
  return t;
}

std::string CgroupTree::Describe() const {
  return std::string(v2_ ? "cgroup v2" : "cgroup v1 (pids)") + " at " + dir_;
}

std::string CgroupTree::KillFileOf(const std::string& name) const {
  return v2_ ? PathOf(name) + "/cgroup.kill" : "";
}

Result<int> CgroupTree::Create(const std::string& name) const {
  const std::string path = PathOf(name);
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::Internal("cannot create cgroup " + path + ": " + std::strerror(errno));
  const int fd = open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::Internal("cannot open " + path + "/cgroup.procs: " + std::strerror(errno));
  return fd;
}

std::vector<int> CgroupTree::Procs(const std::string& name) const {
  std::vector<int> out;
  std::ifstream in(PathOf(name) + "/cgroup.procs");
  int pid = 0;
  while (in >> pid) out.push_back(pid);
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

void CgroupTree::KillNow(const std::string& name) const {
  if (v2_ && WriteFile(KillFileOf(name), "1")) return;
  for (int pid : Procs(name)) ::kill(pid, SIGKILL);
}

bool CgroupTree::Remove(const std::string& name) const {
  return rmdir(PathOf(name).c_str()) == 0 || errno == ENOENT;
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
}

std::vector<std::string> CgroupTree::List() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace muster::agent
