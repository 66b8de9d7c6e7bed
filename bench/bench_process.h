// Processes a cluster benchmark starts from the `muster` binary: each in its own process group,
// stdout and stderr appended to a log file, and stopped by pid (never by name).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace muster::bench {

inline pid_t Spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(a[0], a.data());
    _exit(127);
  }
  close(fd);
  return pid;
}

// Sends `sig` to `pid` and reaps it; SIGKILL to its whole group after `grace`.
inline void Stop(pid_t pid, int sig = SIGTERM,
                 std::chrono::milliseconds grace = std::chrono::seconds(3)) {
  if (pid <= 0) return;
  kill(pid, sig);
  const auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace muster::bench
