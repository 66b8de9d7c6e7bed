// See spawn.h.
#include "cluster/agent/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace muster::agent {

namespace {

enum Step : int { kStepExec = 1, kStepChdir = 2, kStepStdio = 3 };

struct ChildError {
  int step;
  int err;
};

[[noreturn]] void ChildFail(int fd, int step) {
  ChildError e{step, errno};
  ssize_t w = write(fd, &e, sizeof e);
  (void)w;
  _exit(127);
}

}  // namespace

SpawnResult Spawn(const SpawnRequest& req) {
  SpawnResult result;
  if (req.argv.empty()) {
    result.error = "empty command";
    return result;
  }
  std::vector<char*> argv, envp;
  for (const auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : req.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    result.error = std::string("fork failed: ") + std::strerror(errno);
    close(err_pipe[0]);
    close(err_pipe[1]);
    if (devnull >= 0) close(devnull);
    return result;
  }
  if (pid == 0) {
    setpgid(0, 0);
    if (req.parent_death_signal != 0) {
      prctl(PR_SET_PDEATHSIG, req.parent_death_signal);
      if (getppid() != parent) _exit(127);  // the parent is already gone
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
    if ((devnull >= 0 && dup2(devnull, 0) < 0) || dup2(req.stdout_fd, 1) < 0 ||
        dup2(req.stderr_fd, 2) < 0)
      ChildFail(err_pipe[1], kStepStdio);
    if (!req.cwd.empty() && chdir(req.cwd.c_str()) != 0) ChildFail(err_pipe[1], kStepChdir);
    environ = envp.data();
    execvp(argv[0], argv.data());
    ChildFail(err_pipe[1], kStepExec);
  }
  setpgid(pid, pid);  // also in the parent, so a Kill right after Spawn finds the group
  close(err_pipe[1]);
  if (devnull >= 0) close(devnull);
  ChildError e{};
  ssize_t n;
  do {
    n = read(err_pipe[0], &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof e)) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    switch (e.step) {
      case kStepChdir:
        result.error =
            "cannot change to working directory '" + req.cwd + "': " + std::strerror(e.err);
        break;
      case kStepStdio:
        result.error = std::string("cannot set up stdio: ") + std::strerror(e.err);
        break;
      default:
        result.error = "cannot execute '" + req.argv[0] + "': " + std::strerror(e.err);
    }
    return result;
  }
  result.pid = pid;
  return result;
}

}  // namespace muster::agent
