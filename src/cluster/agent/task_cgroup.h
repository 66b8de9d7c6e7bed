// Per-task cgroups: every task attempt runs in its own cgroup, so that stopping it reaches every
// process it started, including those that left its process group (setsid, daemonizing tools).
//
// Hierarchy, detected (never assumed): cgroup v2 where it is mounted — /sys/fs/cgroup itself, or
// /sys/fs/cgroup/unified in the hybrid layout of v1 controllers plus a v2 mount — else the v1
// `pids` hierarchy (/sys/fs/cgroup/pids). The agent's cgroups live under
// <hierarchy>/muster.<agent id>/ (the agent passes its name and a hash of its work dir), one
// directory per attempt named <job>.<task>.<attempt>.
// Joining: the task's child process writes its own pid to the attempt's cgroup.procs between
// vfork and exec (Spawn's cgroup_procs_fd), before it can start anything.
// Killing: v2 writes "1" to cgroup.kill (kernels 5.14+; else, and on v1, SIGKILL to every listed
// process until none is left).
// Without a hierarchy or the permission to create under it (an agent not run as root), Open
// fails with the reason, and the launcher falls back to process groups.
//
// Thread-safety: all methods are const on the layout and may be called from any thread.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace muster::agent {

// The id an agent's cgroups are kept under (Open's agent_name): its name and a hash of its work
// dir, so a restarted agent finds its predecessor's cgroups and two agents of one name on one
// host (separate work dirs) never touch each other's.
std::string CgroupAgentId(const std::string& name, const std::string& work_dir);

// Writes the calling process's pid to procs_fd (a cgroup.procs open for writing), which moves it
// into that cgroup. System calls only: safe in a child between fork or vfork and exec.
bool JoinCgroup(int procs_fd);

class CgroupTree {
 public:
  // root_override: a directory to use as the hierarchy (tests); empty = detect.
  static Result<CgroupTree> Open(const std::string& agent_name,
                                 const std::string& root_override = "");

  bool v2() const { return v2_; }
  // "cgroup v2 at /sys/fs/cgroup/unified/muster.node-0".
  std::string Describe() const;
  // Path of an attempt's cgroup.
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  // Path of its cgroup.kill (v2), or "" on v1.
  std::string KillFileOf(const std::string& name) const;

  // Creates the attempt's cgroup and opens its cgroup.procs for writing (close-on-exec); the
  // descriptor, or an error.
  Result<int> Create(const std::string& name) const;
  // Kills every process in it; true when it is empty afterwards (waits up to ~1 s).
  bool Kill(const std::string& name) const;
  // Sends the kill and returns at once.
  void KillNow(const std::string& name) const;
  // Pids in it now.
  std::vector<int> Procs(const std::string& name) const;
  // Removes the (empty) cgroup; false if it still holds processes or cannot be removed.
  bool Remove(const std::string& name) const;
  // Attempt cgroups that exist now (e.g. left by a previous agent).
  std::vector<std::string> List() const;
  // Removes the agent's own directory if no attempt cgroup is left (at shutdown).
  void RemoveRoot() const;
  // Kills and removes every attempt cgroup, then the agent's directory (test teardown).
  void Clear() const;

 private:
  std::string dir_;
  bool v2_ = false;
};

}  // namespace muster::agent
