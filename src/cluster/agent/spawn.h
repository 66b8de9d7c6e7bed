// fork/exec of one task process, with exec errors reported back instead of lost.
//
// Everything the child needs (argv, envp, cwd) is prepared before vfork, so the child only makes
// system calls: setpgid, prctl, signal resets, dup2, setgroups/setresgid/setresuid (raw system
// calls: glibc's wrappers would signal the parent's threads, whose memory the child shares),
// chdir, execvpe; it shares the agent's memory
// until exec and writes none of it (all signals are blocked from before vfork until the child has
// reset their dispositions). A pipe marked close-on-exec carries the failing step and errno back;
// EOF on it means exec succeeded.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace muster::agent {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in the child's PATH
  std::vector<std::string> env;   // "KEY=VALUE"
  std::string cwd;                // empty: inherit
  int stdout_fd = -1;             // duplicated onto 1 and 2 in the child
  int stderr_fd = -1;
  // Sent to the child when the thread that called Spawn ends (PR_SET_PDEATHSIG); 0 = none.
  int parent_death_signal = 0;
  // cgroup.procs files the child writes its own pid to before exec, one per hierarchy
  // (task_cgroup.h).
  std::vector<int> cgroup_procs_fds;
  // Non-empty: files the child opens (as the task's user, after chdir; created 0644 less its
  // umask, appended to) for a copy of its stdout and stderr (`--output`, `--error`); the same
  // path twice is opened once. Their descriptors come back in SpawnResult.
  std::string stdout_copy_path;
  std::string stderr_copy_path;
  // Run as this user: groups, then gid, then uid, before chdir and exec (task_user.h).
  bool set_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

struct SpawnResult {
  int pid = -1;       // > 0: running, leader of process group `pid`
  std::string error;  // when pid <= 0: "cannot execute 'foo': No such file or directory"
  // The copy files asked for (close-on-exec; the caller closes them), else -1; both the same
  // file's descriptors when the paths were the same.
  int stdout_copy_fd = -1;
  int stderr_copy_fd = -1;
};

// Starts the process in a new process group. On failure the child has already been reaped.
SpawnResult Spawn(const SpawnRequest& req);

// argv[0] looked up in the task's own PATH (from its environment, else the agent's), as execvp
// would in a child whose environment is `env`: the first executable regular file. A name with a
// slash, or one found nowhere, is returned as is (exec then reports why it fails).
std::string ResolveProgram(const std::string& name, const std::vector<std::string>& env);

// The error line for a child that failed at `step` (spawn_child.h) with errno `err`.
std::string DescribeSpawnFailure(int step, int err, const SpawnRequest& req);

}  // namespace muster::agent
