// The messages between an agent and its task keeper (task_keeper.h): plain structs, one per
// SOCK_SEQPACKET message, descriptors alongside with SCM_RIGHTS. Both ends are the same build
// of muster (the keeper is forked from the agent, or was left by one of the same binary's runs).
// Not a public interface.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cluster/agent/task_keeper.h"

namespace muster::agent::keeper_wire {

enum Type : uint32_t {
  // agent -> keeper
  kSpawn = 1,
  kForget = 2,
  kRenew = 3,
  kGrace = 4,
  kQuit = 5,
  // keeper -> agent
  kSpawned = 101,
  kExited = 102,
  kAdopt = 103,
  kAdoptDone = 104,
  kBusy = 105,
};

constexpr uint32_t kVersion = 1;
constexpr size_t kMaxGroups = 256;
constexpr size_t kMaxMessage = 1 << 20;  // a spawn's command, environment and paths
constexpr int kMaxFds = 16;

struct Header {
  uint32_t type;
  uint32_t version;
  uint64_t id;  // a spawn's, matched by its answer
};

// Descriptors: stdout's and stderr's write ends, their read ends, then ncgroup_fds cgroup.procs.
// Then the strings, each ending in NUL: the program, argc arguments, envc "KEY=VALUE", the working
// directory, the stdout copy path, the stderr copy path (empty strings: none).
struct SpawnMsg {
  Header h;
  KeptTaskInfo info;
  int32_t set_user;
  uint32_t uid, gid, ngroups;
  uint32_t groups[kMaxGroups];
  uint32_t argc, envc, ncgroup_fds;
  uint32_t same_copy;  // the stderr copy is the stdout copy's file
  uint32_t strings;    // bytes of strings that follow
};

// Descriptors: the stdout copy's, then the stderr copy's (when there are, and not the same file).
struct SpawnedMsg {
  Header h;
  int32_t pid;  // > 0: running
  int32_t step, err;  // else what failed (spawn_child.h)
  int32_t out_copy, err_copy;  // whether each copy descriptor follows
};

struct ExitedMsg {
  Header h;
  int32_t pid, wait_status, fenced;
};

// Renew (expiry in ms), grace (ms), forget (a pid).
struct ValueMsg {
  Header h;
  int64_t value;
};

// Descriptors: the pipes' read ends (stdout, stderr), then the copies that exist.
struct AdoptMsg {
  Header h;
  KeptTaskInfo info;
  int32_t pid, exited, wait_status, fenced;
  int32_t out_copy, err_copy;
};

}  // namespace muster::agent::keeper_wire
