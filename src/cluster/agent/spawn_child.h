// Internals of spawn.cc shared with the task keeper (task_keeper.h), which runs the same child
// side in a process of its own: the steps a child can fail at, how it reports them, and the child
// itself. Not a public interface.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace muster::agent::spawn_internal {

// The step a child failed at, sent back with its errno on the close-on-exec error pipe.
enum Step : int {
  kStepExec = 1,
  kStepChdir = 2,
  kStepStdio = 3,
  kStepCgroup = 4,
  kStepUser = 5,
  kStepOutput = 6,   // the stdout copy file
  kStepError = 7,    // the stderr copy file
  kStepNotFile = 8,  // a copy file that is not a regular file (a FIFO would hang the agent)
  kStepKeeper = 9,   // the task keeper could not start a child (task_keeper.h)
};

struct ChildError {
  int step;
  int err;
};

// Everything the child uses, prepared by its parent.
struct ChildArgs {
  const char* program;  // argv[0] resolved in the task's PATH
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: inherit
  int stdin_fd, stdout_fd, stderr_fd, err_fd;
  int parent_death_signal;
  pid_t parent;
  const int* cgroup_fds;
  size_t ncgroup_fds;
  bool set_user;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  size_t ngroups;
  const char* out_copy;  // nullptr: none
  const char* err_copy;  // nullptr: none; the same pointer as out_copy: one file
  int copy_sock;         // where the copies' descriptors go
};

// The child between fork (or vfork) and exec: process group, cgroup, user, signals, stdio,
// working directory, copy files, exec; a failing step goes to a.err_fd and the child exits 127.
// After vfork (or clone with CLONE_VM) it shares its parent's memory, so it only makes system
// calls and writes nothing the parent reads, in particular not `environ` (the program was looked
// up beforehand). Its credential changes, stdio, chdir and exec take their errors from the
// calls' results, not from errno, which a CLONE_VM child shares with its still-running parent.
[[noreturn]] void RunChild(const ChildArgs& a);

// Sends n (at most 2) descriptors over a Unix socket (SCM_RIGHTS). System calls only.
bool SendFds(int sock, const int* fds, int n);
// Receives up to 2 descriptors sent by SendFds (made close-on-exec), without waiting; how many.
int ReceiveFds(int sock, int* fds);

}  // namespace muster::agent::spawn_internal
