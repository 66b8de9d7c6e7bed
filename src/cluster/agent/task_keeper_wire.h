// The messages between an agent and its task keeper (task_keeper.h): plain structs, one per
// SOCK_SEQPACKET message, descriptors alongside with SCM_RIGHTS. Both ends are the same build
// of muster (the keeper is forked from the agent, or was left by one of the same binary's runs).
// Not a public interface.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

constexpr uint32_t kVersion = 2;  // 2: KeptTaskInfo::cgroup
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

// One message with up to kMaxFds descriptors (SCM_RIGHTS); false if it was not sent whole
// (errno EAGAIN: the socket is full, with MSG_DONTWAIT in `flags`). System calls only: the
// keeper uses it too.
inline bool SendMessage(int sock, const void* msg, size_t n, const int* fds, int nfds,
                        int flags = 0) {
  iovec iov{const_cast<void*>(msg), n};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (nfds > 0) {
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(static_cast<size_t>(nfds) * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(static_cast<size_t>(nfds) * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, static_cast<size_t>(nfds) * sizeof(int));
  }
  ssize_t w;
  do {
    w = sendmsg(sock, &m, MSG_NOSIGNAL | flags);
  } while (w < 0 && errno == EINTR);
  return w == static_cast<ssize_t>(n);
}

// Receives one message into buf and its descriptors (made close-on-exec) into fds, at most
// kMaxFds (more are closed). Its length (0 at the end of the link, -1 with errno); in *whole
// whether its bytes came untruncated, in *fds_cut whether some of its descriptors were lost
// (the receiver was out of descriptors, or more than kMaxFds came). System calls only.
inline ssize_t ReceiveMessage(int sock, void* buf, size_t len, int flags, int* fds, int* nfds,
                              bool* whole, bool* fds_cut) {
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *nfds = 0;
  *whole = n > 0 && (m.msg_flags & MSG_TRUNC) == 0;
  *fds_cut = n > 0 && (m.msg_flags & MSG_CTRUNC) != 0;
  if (n <= 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (*nfds < kMaxFds) {
          fds[(*nfds)++] = fd;
        } else {
          close(fd);
          *fds_cut = true;
        }
      }
    }
  return n;
}

}  // namespace muster::agent::keeper_wire
