// See spawn.h.
#include "cluster/agent/spawn.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cluster/agent/spawn_child.h"
#include "cluster/agent/task_cgroup.h"

namespace muster::agent {

namespace {

using namespace spawn_internal;

// Opens a copy file without blocking (a FIFO with no reader would stop the agent's launch
// thread) and keeps it only if it is a regular file; -1 with errno, or with errno EINVAL and
// *not_file for anything else. System calls only.
int OpenCopy(const char* path, bool* not_file) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd < 0) {
    *not_file = errno == ENXIO;  // a FIFO without a reader, a device without its driver
    return -1;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    *not_file = true;
    errno = EINVAL;
    return -1;
  }
  fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);  // blocking again: writes to a file do not wait
  return fd;
}

}  // namespace

namespace spawn_internal {

bool SendFds(int sock, const int* fds, int n) {
  char byte = 0;
  struct iovec iov {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(static_cast<size_t>(n) * sizeof(int));
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(static_cast<size_t>(n) * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds, static_cast<size_t>(n) * sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

int ReceiveFds(int sock, int* fds) {
  char byte = 0;
  struct iovec iov {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1) return 0;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return 0;
  const int n = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
  std::memcpy(fds, CMSG_DATA(c), static_cast<size_t>(std::min(n, 2)) * sizeof(int));
  return std::min(n, 2);
}

namespace {

[[noreturn]] void ChildFail(int fd, int step, int err) {
  ChildError e{step, err};
  ssize_t w = write(fd, &e, sizeof e);
  (void)w;
  _exit(127);
}

[[noreturn]] void ChildFail(int fd, int step) { ChildFail(fd, step, errno); }

// A system call whose error comes back in its result (-errno), never through errno: a child
// started with CLONE_VM shares its parent's thread-local storage, errno included, and the parent
// goes on making calls meanwhile.
long Sys(long nr, long a = 0, long b = 0, long c = 0) {
#if defined(__x86_64__)
  long r;
  asm volatile("syscall" : "=a"(r) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
#elif defined(__aarch64__)
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#else
  const long r = syscall(nr, a, b, c);
  return r < 0 ? -errno : r;
#endif
}

// dup2 without errno (dup3 refuses equal descriptors: then only close-on-exec is cleared).
long Dup(int from, int to) {
  return from == to ? Sys(SYS_fcntl, from, F_SETFD, 0) : Sys(SYS_dup3, from, to, 0);
}

}  // namespace

[[noreturn]] __attribute__((noinline)) void RunChild(const ChildArgs& a) {
  setpgid(0, 0);
  // Join the task's cgroup before anything else can start.
  for (size_t i = 0; i < a.ncgroup_fds; ++i)
    if (!JoinCgroup(a.cgroup_fds[i])) ChildFail(a.err_fd, kStepCgroup);
  // Become the task's user. Raw system calls: they change only this process's credentials.
  if (a.set_user) {
    long r = Sys(SYS_setgroups, static_cast<long>(a.ngroups), reinterpret_cast<long>(a.groups));
    if (r == 0) r = Sys(SYS_setresgid, a.gid, a.gid, a.gid);
    if (r == 0) r = Sys(SYS_setresuid, a.uid, a.uid, a.uid);
    if (r != 0) ChildFail(a.err_fd, kStepUser, static_cast<int>(-r));
  }
  // After the credential change, which clears it.
  if (a.parent_death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, a.parent_death_signal);
    if (getppid() != a.parent) _exit(127);  // the parent is already gone
  }
  // Every signal is blocked (by the parent, before vfork): reset the dispositions first, so that
  // no handler of the parent's can run in this shared address space, then unblock.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  long r = a.stdin_fd >= 0 ? Dup(a.stdin_fd, 0) : 0;
  if (r >= 0) r = Dup(a.stdout_fd, 1);
  if (r >= 0) r = Dup(a.stderr_fd, 2);
  if (r < 0) ChildFail(a.err_fd, kStepStdio, static_cast<int>(-r));
  if (a.cwd != nullptr && (r = Sys(SYS_chdir, reinterpret_cast<long>(a.cwd))) != 0)
    ChildFail(a.err_fd, kStepChdir, static_cast<int>(-r));
  // The copy files, opened as the task's user in its directory (so the agent writes nowhere the
  // task's user could not), then handed to the agent.
  if (a.out_copy != nullptr || a.err_copy != nullptr) {
    // Sent in order: the stdout copy if asked for, then the stderr copy if it is another file.
    int fds[2] = {-1, -1};
    int n = 0;
    bool not_file = false;
    if (a.out_copy != nullptr && (fds[n++] = OpenCopy(a.out_copy, &not_file)) < 0)
      ChildFail(a.err_fd, not_file ? kStepNotFile : kStepOutput);
    if (a.err_copy != nullptr && a.err_copy != a.out_copy &&
        (fds[n++] = OpenCopy(a.err_copy, &not_file)) < 0)
      ChildFail(a.err_fd, not_file ? kStepNotFile : kStepError);
    if (!SendFds(a.copy_sock, fds, n)) ChildFail(a.err_fd, kStepOutput);
    for (int i = 0; i < n; ++i) close(fds[i]);
  }
  // A path: no search. A file the kernel does not know how to run (a script without #!) runs
  // under /bin/sh, as execvp would run it.
  r = Sys(SYS_execve, reinterpret_cast<long>(a.program), reinterpret_cast<long>(a.argv),
          reinterpret_cast<long>(a.envp));
  if (r == -ENOEXEC) {
    size_t argc = 0;
    while (a.argv[argc] != nullptr) ++argc;
    constexpr size_t kMaxScriptArgs = 8192;  // on this stack (the keeper's child has 256 KiB)
    if (argc > kMaxScriptArgs) ChildFail(a.err_fd, kStepExec, E2BIG);
    const char* sh_argv[kMaxScriptArgs + 3];
    sh_argv[0] = "/bin/sh";
    sh_argv[1] = a.program;
    for (size_t i = 1; i <= argc; ++i) sh_argv[i + 1] = a.argv[i];  // and the final nullptr
    if (argc == 0) sh_argv[2] = nullptr;
    r = Sys(SYS_execve, reinterpret_cast<long>("/bin/sh"), reinterpret_cast<long>(sh_argv),
            reinterpret_cast<long>(a.envp));
    if (r == -ENOENT) r = -ENOEXEC;  // no shell: say why the program itself did not run
  }
  ChildFail(a.err_fd, kStepExec, static_cast<int>(-r));
}

}  // namespace spawn_internal

std::string ResolveProgram(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* path = nullptr;
  for (const auto& e : env)
    if (e.compare(0, 5, "PATH=") == 0) path = e.c_str() + 5;
  if (path == nullptr) path = getenv("PATH");
  if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return name;
}

std::string DescribeSpawnFailure(int step, int err, const SpawnRequest& req) {
  using namespace spawn_internal;
  switch (step) {
    case kStepChdir:
      return "cannot change to working directory '" + req.cwd + "': " + std::strerror(err);
    case kStepStdio:
      return std::string("cannot set up stdio: ") + std::strerror(err);
    case kStepCgroup:
      return std::string("cannot join the task's cgroup: ") + std::strerror(err);
    case kStepUser:
      return "cannot switch to uid " + std::to_string(req.uid) + ": " + std::strerror(err);
    case kStepOutput:
      return "cannot open the output file '" + req.stdout_copy_path + "': " +
                     std::strerror(err);
    case kStepNotFile:
      return "the output or error file ('" + req.stdout_copy_path + "', '" + req.stderr_copy_path + "') is not a regular file";
    case kStepError:
      return "cannot open the error file '" + req.stderr_copy_path + "': " +
                     std::strerror(err);
    case kStepKeeper:
      return std::string("the node's task keeper could not start it: ") + std::strerror(err);
    default:
      return "cannot execute '" + req.argv[0] + "': " + std::strerror(err);
  }
}

SpawnResult Spawn(const SpawnRequest& req) {
  SpawnResult result;
  if (req.argv.empty()) {
    result.error = "empty command";
    return result;
  }
  // The lookup happens here, not in the child: execvpe would search the agent's PATH.
  const std::string program = ResolveProgram(req.argv[0], req.env);
  std::vector<char*> argv, envp;
  for (const auto& a : req.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : req.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The copy files' descriptors come back over this pair (the child has its own fd table).
  int copy_socks[2] = {-1, -1};
  const bool copies = !req.stdout_copy_path.empty() || !req.stderr_copy_path.empty();
  if (copies && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, copy_socks) != 0) {
    result.error = std::string("cannot create a socket pair: ") + std::strerror(errno);
    return result;
  }
  struct CloseOnReturn {
    int* fds;
    ~CloseOnReturn() {
      for (int i = 0; i < 2; ++i)
        if (fds[i] >= 0) close(fds[i]);
    }
  } close_copy_socks{copy_socks};
  const char* out_copy = req.stdout_copy_path.empty() ? nullptr : req.stdout_copy_path.c_str();
  const char* err_copy = req.stderr_copy_path.empty()                  ? nullptr
                         : req.stderr_copy_path == req.stdout_copy_path ? out_copy
                                                                       : req.stderr_copy_path.c_str();
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // vfork: the agent is a large multi-threaded process, and copying its page tables for every
  // task was most of a trivial task's launch cost. All signals stay blocked across the child's
  // life until it has reset their dispositions.
  sigset_t all, old_mask;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old_mask);
  const ChildArgs args{program.c_str(),
                       argv.data(),
                       envp.data(),
                       req.cwd.empty() ? nullptr : req.cwd.c_str(),
                       devnull,
                       req.stdout_fd,
                       req.stderr_fd,
                       err_pipe[1],
                       req.parent_death_signal,
                       getpid(),
                       req.cgroup_procs_fds.data(),
                       req.cgroup_procs_fds.size(),
                       req.set_user,
                       req.uid,
                       req.gid,
                       req.groups.data(),
                       req.groups.size(),
                       out_copy,
                       err_copy,
                       copy_socks[1]};
  pid_t pid = vfork();
  if (pid == 0) RunChild(args);
  const int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) {
    result.error = std::string("fork failed: ") + std::strerror(vfork_errno);
    close(err_pipe[0]);
    close(err_pipe[1]);
    if (devnull >= 0) close(devnull);
    return result;
  }
  setpgid(pid, pid);  // also in the parent, so a Kill right after Spawn finds the group
  close(err_pipe[1]);
  auto take_copies = [&] {
    if (copy_socks[0] < 0) return;
    int fds[2] = {-1, -1};
    const int n = ReceiveFds(copy_socks[0], fds);
    const bool out = !req.stdout_copy_path.empty(), err = !req.stderr_copy_path.empty();
    const bool same = out && err && req.stderr_copy_path == req.stdout_copy_path;
    if (n < (out ? 1 : 0) + (err && !same ? 1 : 0)) {  // not all came: none is used
      for (int i = 0; i < n; ++i) close(fds[i]);
      return;
    }
    if (out) result.stdout_copy_fd = fds[0];
    if (same) result.stderr_copy_fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
    else if (err) result.stderr_copy_fd = fds[out ? 1 : 0];
  };
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
    result.error = DescribeSpawnFailure(e.step, e.err, req);
    return result;
  }
  take_copies();
  result.pid = pid;
  return result;
}

}  // namespace muster::agent
