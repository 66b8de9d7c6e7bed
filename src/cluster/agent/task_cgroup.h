// Per-task cgroups: every task attempt runs in its own cgroup, so that stopping it reaches every
// process it started, including those that left its process group (setsid, daemonizing tools),
// and so that its resources are limited and measured.
//
// Hierarchy, detected (never assumed): cgroup v2 where it is mounted — /sys/fs/cgroup itself, or
// /sys/fs/cgroup/unified in the hybrid layout of v1 controllers plus a v2 mount — else the v1
// `pids` hierarchy (/sys/fs/cgroup/pids). The agent's cgroups live under
// <hierarchy>/muster.<agent id>/ (the agent passes its name and a hash of its work dir), one
// directory per attempt named <job>.<task>.<attempt>. This primary hierarchy is the one that
// membership and killing use.
//
// Limits and measurements (TaskLimits, CgroupUsage) use the controllers where they are:
// - v2 controllers enabled in the primary's subtree (memory, cpu, pids): memory.max with
//   memory.swap.max 0, cpu.max, pids.max; memory.peak, memory.events (oom_kill), cpu.stat.
// - else each v1 controller mounted at /sys/fs/cgroup/<name> (memory, cpu, cpuacct, pids,
//   devices), in a tree of its own under the agent's own cgroup of that controller (so the
//   agent's own limits still bound its tasks): memory.limit_in_bytes (and memsw), cfs quota,
//   pids.max, devices.deny/allow; memory.max_usage_in_bytes, memory.oom_control (oom_kill),
//   cpuacct.usage.
// - device isolation needs the v1 devices controller: cgroup v2 controls devices only through an
//   eBPF program, which muster does not load; it is then reported as not enforced.
// A limit that cannot be set is never silently dropped: Create lists it with why.
// Joining: the task's child process moves itself ("0") into the attempt's cgroup in every
// hierarchy between vfork and exec (Spawn's cgroup_procs_fds), before it can start anything:
// v1 through "tasks", which takes no global lock (cgroup.procs waits for an RCU grace period,
// 10-16 ms after a quiet spell). The task keeper instead makes the child in its v2 cgroup
// (clone3 CLONE_INTO_CGROUP), where the kernel has it.
// Killing: v2 writes "1" to cgroup.kill (kernels 5.14+; else, and on v1, SIGKILL to every listed
// process until none is left).
// Without a hierarchy or the permission to create under it (an agent not run as root), Open
// fails with the reason, and the launcher falls back to process groups.
//
// Thread-safety: all methods are const on the layout and may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace muster::agent {

// What one task may use. 0 = no limit.
struct TaskLimits {
  int64_t memory_bytes = 0;
  int64_t milli_cpus = 0;  // CPU quota: milli_cpus / 1000 CPUs' time per period
  int64_t pids = 0;        // processes and threads
  // Device isolation: the character devices of major device_major and these minors cannot be
  // opened (the node's GPUs the task was not given). Denied one by one, so that every other
  // device (ttys, /dev/null, the driver's control devices) stays as it is.
  int device_major = 195;  // NVIDIA's
  std::vector<int> denied_minors;
  bool operator==(const TaskLimits&) const = default;
};

// What an attempt's cgroup measured; -1 = not measured here.
struct CgroupUsage {
  int64_t peak_memory_bytes = -1;
  double cpu_seconds = -1;
  int64_t oom_kills = 0;  // processes the kernel killed for going over the memory limit
};

// What a reused cgroup's counters held when its current task got it (CgroupTree::Reuse):
// Usage reports what they gained since.
struct CgroupBaseline {
  double cpu_seconds = 0;
  int64_t oom_kills = 0;
};

// An attempt's cgroup, made: the file to join in each hierarchy (close-on-exec; the primary's
// first: cgroup.procs on v2, "tasks" on v1), and
// each limit asked for that could not be set, with why ("memory: no memory controller").
struct CreatedCgroup {
  std::vector<int> procs_fds;
  std::vector<std::string> not_enforced;
  uint32_t shape = 0;    // the v1 hierarchies it is in besides the primary (ShapeOf)
  CgroupBaseline since;  // zero for a new one
};

// What a cgroup waiting for its next task holds (CgroupPool): the limits its last task had (and
// what of them could not be set), and its counters' totals when that task ended.
struct IdleCgroup {
  TaskLimits limits;
  std::vector<std::string> not_enforced;
  CgroupBaseline totals;
};

// The id an agent's cgroups are kept under (Open's agent_name): its name and a hash of its work
// dir, so a restarted agent finds its predecessor's cgroups and two agents of one name on one
// host (separate work dirs) never touch each other's.
std::string CgroupAgentId(const std::string& name, const std::string& work_dir);

// Writes "0" (the writer itself) to procs_fd, a cgroup.procs or a v1 "tasks" file open for
// writing, which moves the calling process (one thread) into that cgroup. System calls only: safe
// in a child between fork or vfork and exec.
bool JoinCgroup(int procs_fd);

// Whether the v2 cgroup at `dir` has a process in it (its cgroup.events says so); true when that
// cannot be read. System calls only.
bool V2CgroupPopulated(const std::string& dir);

class CgroupTree {
 public:
  // root_override: a directory to use as the hierarchy (tests); empty = detect.
  static Result<CgroupTree> Open(const std::string& agent_name,
                                 const std::string& root_override = "");

  bool v2() const { return v2_; }
  // "cgroup v2 at /sys/fs/cgroup/unified/muster.node-0; limits: memory, cpu (v1), ...".
  std::string Describe() const;
  // The controllers that limits use, each with its hierarchy: "memory (v1)", "pids (v2)".
  std::vector<std::string> Controllers() const;
  // Path of an attempt's cgroup.
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }
  // Path of its cgroup.kill (v2), or "" on v1.
  std::string KillFileOf(const std::string& name) const;

  // Creates the attempt's cgroup in every hierarchy it needs (ShapeOf), sets the limits it can,
  // and opens each cgroup.procs for writing; an error if the primary one cannot be made
  // (nothing is left then).
  Result<CreatedCgroup> Create(const std::string& name, const TaskLimits& limits = {}) const;
  // The v1 hierarchies besides the primary (bit i: the i-th; there are at most five, one per
  // controller) a task with `limits` gets a cgroup in. Two tasks of one shape can use one cgroup
  // in turn.
  uint32_t ShapeOf(const TaskLimits& limits) const;
  // Whether a cgroup of `shape` can serve another task once its task has ended: not where v2
  // meters memory (its peak cannot be reset for the next task), nor with device rules.
  bool Reusable(uint32_t shape) const;
  // Readies an empty cgroup of `shape` that served an ended task (Recycle) for a task with
  // `limits` of the same shape: every limit is written again (none where it asks for none), its
  // peak memory is reset, and its counters are noted in `since` for Usage. Costs the kernel far
  // less than a new cgroup (no mkdir or rmdir in each hierarchy). With `now` (what it holds,
  // as its last task left it), limits equal to the last task's are left as they are and the
  // counters are not read again. Refused when what its last task left charged to it is more
  // than an eighth of `limits`' memory and cannot be reclaimed.
  Result<CreatedCgroup> Reuse(const std::string& name, uint32_t shape, const TaskLimits& limits,
                              const IdleCgroup* now = nullptr) const;
  // Before a cgroup waits for its next task: false if it cannot be reused (not empty, or its
  // memory charge stays above 4 MiB); a charge above that (the last task's page cache) is
  // reclaimed.
  bool Recycle(const std::string& name, uint32_t shape) const;
  // What the attempt's cgroup measured (read before Remove), since `since` for a reused one.
  CgroupUsage Usage(const std::string& name, const CgroupBaseline& since = {}) const;
  // Kills every process in it; true when it is empty afterwards (waits up to ~1 s).
  bool Kill(const std::string& name) const;
  // Sends the kill and returns at once.
  // False when there was nothing to kill: on v2 an unpopulated cgroup is left alone, since one
  // that was killed kills every child later made in it with clone3's CLONE_INTO_CGROUP (the task
  // keeper's way in); true when it killed, and then it must not be handed to another task.
  bool KillNow(const std::string& name) const;
  // Pids in it now.
  std::vector<int> Procs(const std::string& name) const;
  // Removes the (empty) cgroup from every hierarchy; false if it still holds processes or cannot
  // be removed.
  bool Remove(const std::string& name) const;
  // Attempt cgroups that exist now (e.g. left by a previous agent).
  std::vector<std::string> List() const;
  // Removes the agent's own directory if no attempt cgroup is left (at shutdown).
  void RemoveRoot() const;
  // Kills and removes every attempt cgroup, then the agent's directory (test teardown).
  void Clear() const;

 private:
  // A v1 hierarchy of controllers other than the primary's: /sys/fs/cgroup/<name>/<agent's
  // cgroup there>/muster.<agent id>.
  struct Extra {
    std::vector<std::string> controllers;  // those of the mount: {"cpu", "cpuacct"}
    std::string dir;
    bool memsw = false;  // memory with swap accounting (memory.memsw.*)
    bool Has(const std::string& c) const;
  };
  const Extra* ExtraWith(const std::string& controller) const;
  bool V2Has(const std::string& controller) const;
  bool Needs(const Extra& e, const TaskLimits& limits) const;
  // Sets the limits (fresh: none is set yet; as_is: they are set already) and opens
  // cgroup.procs in out->shape's hierarchies.
  enum class Limits { kFresh, kRewrite, kAsIs };
  Status Fill(const std::string& name, const TaskLimits& limits, Limits how,
              CreatedCgroup* out) const;
  CgroupUsage Measure(const std::string& name) const;  // the counters as they are
  // Whether the memory charged to the cgroup (v1) is at most `bytes`, after reclaiming it
  // (memory.force_empty) if it was more.
  bool ChargeAtMost(const std::string& name, uint32_t shape, int64_t bytes) const;

  std::string dir_;
  bool v2_ = false;
  std::vector<std::string> v2_controllers_;  // enabled for the attempts' cgroups
  std::vector<Extra> extras_;
};

}  // namespace muster::agent
