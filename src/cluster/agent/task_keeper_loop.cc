// The task keeper's process (task_keeper.h): its loop, forked from the agent. System calls and
// its own memory only: the agent that forked it has threads, and any lock one of them held at
// the fork (malloc's among them) stays held here forever.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/sched.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include "cluster/agent/spawn_child.h"
#include "cluster/agent/task_cgroup.h"
#include "cluster/agent/task_keeper_loop.h"
#include "cluster/agent/task_keeper_wire.h"

namespace muster::agent::keeper_internal {

namespace {

using namespace keeper_wire;
using spawn_internal::ChildArgs;

enum Fence : int32_t { kWatched = 0, kTermSent = 1, kKillSent = 2 };

struct Slot {
  int32_t used;
  int32_t pid;
  int32_t pending;     // spawned, exec not yet confirmed
  int32_t orphan;      // confirmed after the agent that asked had gone: killed, never adopted
  int32_t same_copy;   // stdout and stderr are copied to one file
  int32_t failed;      // its exec failed (answered); freed once reaped
  void* area;          // the child's memory until exec (ChildArgs, stack, strings), or null
  size_t area_size;
  uint64_t spawn_id;   // the request, answered when confirmed
  uint64_t agent_gen;  // which agent link asked for it
  int err_pipe, copy_sock;
  int out_read, err_read, out_copy, err_copy;
  int32_t exited, wait_status, fenced, fence;
  int32_t exit_sent;   // its end has reached the attached agent (or went with its Adopt)
  int64_t kill_at;
  KeptTaskInfo info;
};

// Everything the loop keeps, in one private anonymous mapping made after the fork.
struct State {
  Slot slots[TaskKeeper::kSlots];
  int high;  // slots at and above this index are unused (scans stop there)
  pollfd fds[TaskKeeper::kSlots + 4];
  int fd_slot[TaskKeeper::kSlots + 4];  // the slot a pending spawn's err pipe belongs to, or -1
  alignas(8) char in[kMaxMessage + sizeof(SpawnMsg) + 64];
  int listen_fd;
  int agent;  // the attached agent's link, or -1
  uint64_t agent_gen;
  int64_t expiry;
  int64_t grace;
  int sigfd;
  int devnull;
  // The cgroups this keeper wrote cgroup.kill to. On this kernel (6.18) a v2 cgroup once killed
  // kills every child later made in it with CLONE_INTO_CGROUP (moving one in still works), so a
  // task bound for one of these joins it the plain way. Past kTaintedMax names, every task does.
  static constexpr int kTaintedMax = 256;
  char tainted[kTaintedMax][KeptTaskInfo::kNameMax + 1];
  int ntainted;
  bool clone_into_off;
};

bool Tainted(const State& st, const char* cgroup) {
  if (st.clone_into_off) return true;
  for (int i = 0; i < st.ntainted; ++i)
    if (std::strcmp(st.tainted[i], cgroup) == 0) return true;
  return false;
}

void Taint(State& st, const char* cgroup) {
  if (cgroup[0] == '\0' || Tainted(st, cgroup)) return;
  if (st.ntainted == State::kTaintedMax) {
    st.clone_into_off = true;
    return;
  }
  std::snprintf(st.tainted[st.ntainted++], KeptTaskInfo::kNameMax + 1, "%s", cgroup);
}

std::span<Slot> Used(State& st) {
  return {st.slots, static_cast<size_t>(st.high)};
}
std::span<const Slot> Used(const State& st) {
  return {st.slots, static_cast<size_t>(st.high)};
}

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// To the attached agent, never letting a stalled one stop this loop (its fencing above all): a
// full socket is waited on for at most kSendWaitMs, then the link is dropped, as if the agent
// had gone (it is frozen, or does not read; a successor may attach and adopt). False if not
// sent.
constexpr int64_t kSendWaitMs = 1000;
bool ToAgent(State& st, const void* msg, size_t n, const int* fds, int nfds) {
  const int64_t until = MonoMs() + kSendWaitMs;
  while (st.agent >= 0) {
    if (SendMessage(st.agent, msg, n, fds, nfds, MSG_DONTWAIT)) return true;
    if (errno != EAGAIN) return false;  // a broken link: reading it sees its end
    const int64_t left = until - MonoMs();
    if (left <= 0) break;
    pollfd p{st.agent, POLLOUT, 0};
    poll(&p, 1, static_cast<int>(left));
  }
  CloseFd(st.agent);
  return false;
}

void WriteSmallFile(const char* path, const char* text, size_t n, int flags) {
  if (path[0] == '\0') return;
  const int fd = open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t w = write(fd, text, n);
  (void)w;
  close(fd);
}

// Whether the v2 cgroup whose cgroup.kill is `kill_file` still has a process in it; true when
// that cannot be told (a v1 kill file, an unreadable cgroup.events).
bool Populated(std::string_view kill_file) {
  constexpr std::string_view kKill = "/cgroup.kill";
  if (!kill_file.ends_with(kKill)) return true;
  return V2CgroupPopulated(std::string(kill_file.substr(0, kill_file.size() - kKill.size())));
}

// Kills the task's process group and what is left in its cgroup. `reaped`: its leader has been
// reaped, so an emptied cgroup needs no cgroup.kill (which would taint it, see State::tainted).
void KillGroup(State& st, const Slot& s, bool reaped = false) {
  killpg(s.pid, SIGKILL);
  if (s.info.kill_file[0] == '\0' || (reaped && !Populated(s.info.kill_file))) return;
  WriteSmallFile(s.info.kill_file, "1", 1, O_WRONLY);  // the rest of it, outside its group too
  Taint(st, s.info.cgroup);
}

void ReleaseArea(Slot& s) {
  if (s.area != nullptr) munmap(s.area, s.area_size);
  s.area = nullptr;
}

void FreeSlot(Slot& s) {
  ReleaseArea(s);
  CloseFd(s.err_pipe);
  CloseFd(s.copy_sock);
  CloseFd(s.out_read);
  CloseFd(s.err_read);
  CloseFd(s.out_copy);
  CloseFd(s.err_copy);
  s.used = 0;
  s.pid = 0;
}

// The slot of a live child `pid` (a reaped one's pid may already be another child's).
Slot* FindLive(State& st, int pid) {
  for (Slot& s : Used(st))
    if (s.used && s.pid == pid && !s.exited) return &s;
  return nullptr;
}

// The slot the agent means by `pid`: an ended one first (what it forgets once it has seen the
// end), else a live one.
Slot* FindForAgent(State& st, int pid) {
  for (Slot& s : Used(st))
    if (s.used && s.pid == pid && s.exited) return &s;
  return FindLive(st, pid);
}

void Answer(State& st, uint64_t id, int pid, int step, int err, const int* copies, int ncopies,
            bool out_copy, bool err_copy) {
  if (st.agent < 0) return;
  SpawnedMsg r{};
  r.h = {kSpawned, kVersion, id};
  r.pid = pid;
  r.step = step;
  r.err = err;
  r.out_copy = out_copy;
  r.err_copy = err_copy;
  ToAgent(st, &r, sizeof r, copies, ncopies);
}

bool SendAdopt(State& st, const Slot& s) {
  AdoptMsg a{};
  a.h = {kAdopt, kVersion, 0};
  a.info = s.info;
  a.pid = s.pid;
  a.exited = s.exited;
  a.wait_status = s.wait_status;
  a.fenced = s.fenced;
  int fds[4];
  int n = 0;
  fds[n++] = s.out_read;
  fds[n++] = s.err_read;
  if (s.out_copy >= 0) {
    fds[n++] = s.out_copy;
    a.out_copy = 1;
  }
  if (s.err_copy >= 0) {
    fds[n++] = s.err_copy;
    a.err_copy = 1;
  }
  return ToAgent(st, &a, sizeof a, fds, n);
}

// Ends not yet told to the attached agent, in slot order, without waiting: a full socket keeps
// the rest for the next round. True if some are still due.
bool SendExits(State& st) {
  for (Slot& s : Used(st)) {
    if (st.agent < 0) return false;
    if (!s.used || !s.exited || s.exit_sent || s.orphan || s.agent_gen != st.agent_gen) continue;
    ExitedMsg e{{kExited, kVersion, 0}, s.pid, s.wait_status, s.fenced};
    if (SendMessage(st.agent, &e, sizeof e, nullptr, 0, MSG_DONTWAIT)) {
      s.exit_sent = 1;
    } else if (errno == EAGAIN) {
      return true;
    } else {
      return false;  // a broken link: reading it sees its end
    }
  }
  return false;
}

// A pending spawn's child has written its failure, or exec closed the pipe: answer the agent.
// `block`: the child is known to be gone, so the pipe holds its last word.
void Resolve(State& st, Slot& s, bool block) {
  spawn_internal::ChildError e{};
  ssize_t n;
  if (!block) {
    do {
      n = read(s.err_pipe, &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;  // not yet
  } else {
    fcntl(s.err_pipe, F_SETFL, 0);
    do {
      n = read(s.err_pipe, &e, sizeof e);
    } while (n < 0 && errno == EINTR);
  }
  s.pending = 0;
  const bool asked_by_this_agent = st.agent >= 0 && s.agent_gen == st.agent_gen;
  if (n == static_cast<ssize_t>(sizeof e)) {
    // It failed, and may still be on its way to _exit on the area's stack: the slot is freed
    // when it has been reaped.
    if (asked_by_this_agent) Answer(st, s.spawn_id, -1, e.step, e.err, nullptr, 0, false, false);
    s.failed = 1;
    CloseFd(s.err_pipe);
    return;
  }
  // Exec closed the pipe (or the child died): it no longer uses this process's memory.
  ReleaseArea(s);
  CloseFd(s.err_pipe);
  if (s.copy_sock >= 0) {
    int fds[2] = {-1, -1};
    const int got = spawn_internal::ReceiveFds(s.copy_sock, fds);
    CloseFd(s.copy_sock);
    // In order: the stdout copy if asked for, then the stderr copy if it is another file.
    int i = 0;
    if (s.out_copy == -2) s.out_copy = i < got ? fds[i++] : -1;
    if (s.err_copy == -2) s.err_copy = i < got ? fds[i++] : -1;
    while (i < got) close(fds[i++]);
    if (s.same_copy && s.out_copy >= 0) s.err_copy = fcntl(s.out_copy, F_DUPFD_CLOEXEC, 0);
  }
  if (!asked_by_this_agent) {
    // The agent that asked is gone before it could say the task runs: nobody knows of it.
    KillGroup(st, s);
    s.fence = kKillSent;
    s.orphan = 1;
    return;
  }
  int copies[2];
  int nc = 0;
  if (s.out_copy >= 0) copies[nc++] = s.out_copy;
  if (s.err_copy >= 0) copies[nc++] = s.err_copy;
  Answer(st, s.spawn_id, s.pid, 0, 0, copies, nc, s.out_copy >= 0, s.err_copy >= 0);
}

constexpr size_t kChildStack = 256 << 10;

int ChildEntry(void* args) {
  spawn_internal::RunChild(*static_cast<const ChildArgs*>(args));
}

// A v2 cgroup's directory, opened for clone3's CLONE_INTO_CGROUP, from the descriptor of its
// cgroup.procs the agent sent; -1 if it is not one (a v1 hierarchy: the child joins it itself).
int CgroupDirOf(int procs_fd) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", procs_fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  constexpr std::string_view kProcs = "/cgroup.procs";
  if (n <= static_cast<ssize_t>(kProcs.size())) return -1;
  path[n] = '\0';
  if (std::string_view(path + n - kProcs.size()) != kProcs) return -1;
  path[n - kProcs.size()] = '\0';
  const int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct statfs fs {};
  if (dir >= 0 && (fstatfs(dir, &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)) {
    close(dir);
    return -1;
  }
  return dir;
}

// clone3 with CLONE_VM into the v2 cgroup `cgroup_dir`: the child starts there, on `stack`, in
// fn(arg), and never returns from it. A child that joins its cgroup itself (cgroup.procs) makes
// the kernel wait for an RCU grace period, 10-16 ms measured here on every start that follows a
// quiet spell; a child made in its cgroup waits for nothing. The child's pid, or -errno.
long Clone3Into(int cgroup_dir, char* stack, size_t stack_size, int (*fn)(void*), void* arg) {
  clone_args ca{};
  ca.flags = CLONE_VM | CLONE_INTO_CGROUP;
  ca.exit_signal = SIGCHLD;
  ca.stack = reinterpret_cast<uint64_t>(stack);
  ca.stack_size = stack_size;  // the child's stack pointer starts at stack + stack_size
  ca.cgroup = static_cast<uint64_t>(cgroup_dir);
#if defined(__x86_64__)
  long r;
  register void* entry asm("r8") = reinterpret_cast<void*>(fn);
  register void* param asm("r9") = arg;
  // The child has rax 0 and every other register as the parent had it but rcx and r11.
  asm volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r9, %%rdi\n\t"
      "callq *%%r8\n\t"
      "movl %%eax, %%edi\n\t"
      "movl $60, %%eax\n\t"  // exit, if fn ever returned
      "syscall\n\t"
      "hlt\n\t"
      "1:"
      : "=a"(r)
      : "0"(static_cast<long>(SYS_clone3)), "D"(&ca), "S"(sizeof ca), "r"(entry), "r"(param)
      : "rcx", "r11", "memory");
  return r;
#elif defined(__aarch64__)
  register long x8 asm("x8") = SYS_clone3;
  register long x0 asm("x0") = reinterpret_cast<long>(&ca);
  register long x1 asm("x1") = sizeof ca;
  register long x2 asm("x2") = reinterpret_cast<long>(fn);
  register long x3 asm("x3") = reinterpret_cast<long>(arg);
  asm volatile(
      "svc 0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t"
      "mov x0, x3\n\t"
      "blr x2\n\t"
      "mov x8, #93\n\t"  // exit, if fn ever returned
      "svc 0\n\t"
      "1:"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
      : "x30", "memory");
  return x0;
#else
  (void)cgroup_dir, (void)stack, (void)stack_size, (void)fn, (void)arg;
  return -ENOSYS;
#endif
}

void Spawn(State& st, size_t len, int* fds, int nfds) {
  const auto* m = reinterpret_cast<const SpawnMsg*>(st.in);
  auto refuse = [&](int err) {
    for (int i = 0; i < nfds; ++i) close(fds[i]);
    Answer(st, m->h.id, -1, spawn_internal::kStepKeeper, err, nullptr, 0, false, false);
  };
  // Each count on its own (their sum could wrap), before any is used.
  if (len < sizeof(SpawnMsg) || m->strings != len - sizeof(SpawnMsg) || m->ngroups > kMaxGroups ||
      m->ncgroup_fds > static_cast<uint32_t>(kMaxFds - 4) ||
      nfds != 4 + static_cast<int>(m->ncgroup_fds) || m->argc > kMaxMessage / 2 ||
      m->envc > kMaxMessage / 2 || m->argc == 0)
    return refuse(EINVAL);
  Slot* slot = nullptr;
  for (int i = 0; i < TaskKeeper::kSlots && slot == nullptr; ++i)
    if (!st.slots[i].used) {
      slot = &st.slots[i];
      if (i >= st.high) st.high = i + 1;
    }
  if (slot == nullptr) return refuse(EAGAIN);
  // The child's own area (it runs in this process's memory until exec, while this loop goes on
  // and reuses its buffers): its arguments, its stack, argv and envp, the strings, the groups.
  const size_t nptrs = m->argc + m->envc + 2;
  const size_t area_size = sizeof(ChildArgs) + kChildStack + nptrs * sizeof(char*) + m->strings +
                           m->ngroups * sizeof(gid_t) + m->ncgroup_fds * sizeof(int) + 64;
  void* area_mem = mmap(nullptr, area_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (area_mem == MAP_FAILED) return refuse(errno);
  char* area = static_cast<char*>(area_mem);
  auto* args = reinterpret_cast<ChildArgs*>(area);
  char* const stack_top = area + sizeof(ChildArgs) + kChildStack;  // grows down from here
  char** ptrs = reinterpret_cast<char**>(stack_top);
  char* strings = reinterpret_cast<char*>(ptrs + nptrs);
  std::memcpy(strings, st.in + sizeof(SpawnMsg), m->strings);
  auto* groups = reinterpret_cast<gid_t*>(strings + m->strings + (8 - m->strings % 8));
  for (uint32_t i = 0; i < m->ngroups; ++i) groups[i] = m->groups[i];
  int* cgroup_fds = reinterpret_cast<int*>(groups + m->ngroups);
  for (uint32_t i = 0; i < m->ncgroup_fds; ++i) cgroup_fds[i] = fds[4 + i];
  auto unmap_and_refuse = [&](int err) {
    munmap(area_mem, area_size);
    return refuse(err);
  };
  // The strings: program, argv, env, cwd, out copy, err copy.
  char* p = strings;
  char* const end = p + m->strings;
  auto next = [&]() -> char* {
    char* s = p;
    while (p < end && *p != '\0') ++p;
    if (p == end) return nullptr;
    ++p;
    return s;
  };
  char* program = next();
  if (program == nullptr) return unmap_and_refuse(EINVAL);
  char** argv = ptrs;
  for (uint32_t i = 0; i < m->argc; ++i)
    if ((argv[i] = next()) == nullptr) return unmap_and_refuse(EINVAL);
  argv[m->argc] = nullptr;
  char** envp = argv + m->argc + 1;
  for (uint32_t i = 0; i < m->envc; ++i)
    if ((envp[i] = next()) == nullptr) return unmap_and_refuse(EINVAL);
  envp[m->envc] = nullptr;
  char* cwd = next();
  char* out_copy = next();
  char* err_copy = next();
  if (cwd == nullptr || out_copy == nullptr || err_copy == nullptr)
    return unmap_and_refuse(EINVAL);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return unmap_and_refuse(errno);
  const bool copies = out_copy[0] != '\0' || err_copy[0] != '\0';
  int copy_socks[2] = {-1, -1};
  if (copies && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, copy_socks) != 0) {
    const int err = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    return unmap_and_refuse(err);
  }
  const char* oc = out_copy[0] != '\0' ? out_copy : nullptr;
  const char* ec = err_copy[0] == '\0' ? nullptr : m->same_copy && oc ? oc : err_copy;
  *args = ChildArgs{program,
                    argv,
                    envp,
                    cwd[0] != '\0' ? cwd : nullptr,
                    st.devnull,
                    fds[0],
                    fds[1],
                    err_pipe[1],
                    0,
                    getpid(),
                    cgroup_fds,
                    m->ncgroup_fds,
                    m->set_user != 0,
                    m->uid,
                    m->gid,
                    groups,
                    m->ngroups,
                    oc,
                    ec,
                    copy_socks[1]};
  // The child shares this process's memory until exec, like a vfork child, but on its own stack
  // and without stopping this loop: one stuck before exec (a chdir on a dead mount) holds up
  // nothing else. Nor does it copy page tables. Made in its v2 cgroup where it has one (the
  // first descriptor, as the agent sends them); else, or where clone3 is refused, it joins it.
  pid_t pid = -1;
  int fork_errno = 0;
  const int into =
      m->ncgroup_fds > 0 && !Tainted(st, m->info.cgroup) ? CgroupDirOf(cgroup_fds[0]) : -1;
  if (into >= 0) {
    char* const bottom = area + sizeof(ChildArgs);
    char* const top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t{15});
    args->cgroup_fds = cgroup_fds + 1;  // already in the first
    args->ncgroup_fds = m->ncgroup_fds - 1;
    const long r = Clone3Into(into, bottom, static_cast<size_t>(top - bottom), ChildEntry, args);
    close(into);
    if (r > 0) {
      pid = static_cast<pid_t>(r);
    } else {  // an older kernel or a refusal: the plain way, the child joining every cgroup
      args->cgroup_fds = cgroup_fds;
      args->ncgroup_fds = m->ncgroup_fds;
    }
  }
  if (pid < 0) {
    pid = clone(ChildEntry, stack_top, CLONE_VM | SIGCHLD, args);
    fork_errno = errno;
  }
  close(err_pipe[1]);
  CloseFd(copy_socks[1]);
  close(fds[0]);
  close(fds[1]);
  for (uint32_t i = 0; i < m->ncgroup_fds; ++i) close(fds[4 + i]);
  if (pid < 0) {
    close(err_pipe[0]);
    CloseFd(copy_socks[0]);
    close(fds[2]);
    close(fds[3]);
    munmap(area_mem, area_size);
    Answer(st, m->h.id, -1, spawn_internal::kStepKeeper, fork_errno, nullptr, 0, false, false);
    return;
  }
  setpgid(pid, pid);  // here too, so that a kill right after the answer finds the group
  *slot = Slot{};
  slot->used = 1;
  slot->pid = pid;
  slot->pending = 1;
  slot->spawn_id = m->h.id;
  slot->agent_gen = st.agent_gen;
  slot->err_pipe = err_pipe[0];
  fcntl(slot->err_pipe, F_SETFL, O_NONBLOCK);
  slot->copy_sock = copy_socks[0];
  slot->out_read = fds[2];
  slot->err_read = fds[3];
  slot->out_copy = oc ? -2 : -1;  // -2: to be received
  slot->err_copy = ec && ec != oc ? -2 : -1;
  slot->same_copy = ec != nullptr && ec == oc;
  slot->area = area_mem;
  slot->area_size = area_size;
  slot->info = m->info;
  slot->info.kill_file[KeptTaskInfo::kPathMax] = '\0';
  slot->info.stop_reason_file[KeptTaskInfo::kPathMax] = '\0';
  slot->info.cgroup[KeptTaskInfo::kNameMax] = '\0';
}

// Reads one message from the agent; false when the link has ended.
bool FromAgent(State& st) {
  int fds[kMaxFds];
  int nfds = 0;
  bool untruncated = false, fds_cut = false;
  const ssize_t n = ReceiveMessage(st.agent, st.in, sizeof st.in, MSG_DONTWAIT, fds, &nfds,
                                   &untruncated, &fds_cut);
  if (n < 0 && errno == EAGAIN) return true;
  if (n <= 0) return false;
  const auto* h = reinterpret_cast<const Header*>(st.in);
  const bool whole = untruncated && !fds_cut && static_cast<size_t>(n) >= sizeof(Header) &&
                     h->version == kVersion;
  if (whole && h->type == kSpawn) {
    Spawn(st, static_cast<size_t>(n), fds, nfds);
    return true;
  }
  for (int i = 0; i < nfds; ++i) close(fds[i]);
  // A spawn that cannot be read whole is still answered: its launch waits for the answer.
  if (static_cast<size_t>(n) >= sizeof(Header) && h->type == kSpawn) {
    const int why = h->version != kVersion ? EPROTO : fds_cut ? EMFILE : EMSGSIZE;
    Answer(st, h->id, -1, spawn_internal::kStepKeeper, why, nullptr, 0, false, false);
    return true;
  }
  if (!whole || static_cast<size_t>(n) < sizeof(ValueMsg)) return true;
  const int64_t value = reinterpret_cast<const ValueMsg*>(st.in)->value;
  switch (h->type) {
    case kRenew:
      if (value > st.expiry) st.expiry = value;
      break;
    case kGrace:
      if (value > 0) st.grace = value;
      break;
    case kForget:
      if (Slot* s = FindForAgent(st, static_cast<int>(value)); s != nullptr && !s->pending) {
        if (!s->exited) KillGroup(st, *s);  // forgotten while alive: nothing may run unwatched
        FreeSlot(*s);
      }
      break;
    case kQuit:
      for (Slot& s : Used(st))
        if (s.used && !s.exited) KillGroup(st, s);
      _exit(0);
    default:
      break;
  }
  return true;
}

void Accept(State& st) {
  if (st.listen_fd < 0) return;
  const int fd = accept4(st.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  ucred peer{};
  socklen_t len = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != geteuid()) {
    close(fd);  // only the agent's own user may take its tasks over
    return;
  }
  if (st.agent >= 0) {
    ValueMsg busy{{kBusy, kVersion, 0}, getpid()};
    SendMessage(fd, &busy, sizeof busy, nullptr, 0, MSG_DONTWAIT);
    close(fd);
    return;
  }
  st.agent = fd;
  ++st.agent_gen;
  for (Slot& s : Used(st))
    if (s.used && !s.pending && !s.orphan && !s.failed) {
      if (!SendAdopt(st, s)) return;  // the link is gone again
      s.agent_gen = st.agent_gen;
      s.exit_sent = s.exited;  // an end so far went with the Adopt
    }
  ValueMsg done{{kAdoptDone, kVersion, 0}, getpid()};
  ToAgent(st, &done, sizeof done, nullptr, 0);
}

void Reap(State& st) {
  signalfd_siginfo info;
  while (read(st.sigfd, &info, sizeof info) > 0) {
  }
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    Slot* s = FindLive(st, pid);
    if (s == nullptr) continue;  // not a task's
    if (s->pending) Resolve(st, *s, true);
    if (s->failed) {
      FreeSlot(*s);
      continue;
    }
    KillGroup(st, *s, /*reaped=*/true);  // what is left of its group and cgroup goes with it
    if (s->orphan) {  // nobody's
      FreeSlot(*s);
      continue;
    }
    s->exited = 1;
    s->wait_status = status;  // told to the agent by SendExits
  }
}

void FenceWhatIsDue(State& st, int64_t now) {
  const bool lapsed = (st.expiry > 0 && now > st.expiry) || (st.agent < 0 && st.expiry == 0);
  for (Slot& s : Used(st)) {
    if (!s.used || s.exited || s.failed) continue;
    if (s.fence == kWatched && lapsed) {
      // Why, for the task to read on its SIGTERM.
      WriteSmallFile(s.info.stop_reason_file, "node-lost\n", 10, O_WRONLY | O_CREAT | O_TRUNC |
                                                                     O_NOFOLLOW);
      killpg(s.pid, SIGTERM);
      killpg(s.pid, SIGCONT);  // a stopped group would never see the TERM
      s.fence = kTermSent;
      s.fenced = 1;
      s.kill_at = now + st.grace;
    }
    if (s.fence == kTermSent && now >= s.kill_at) {
      KillGroup(st, s);
      s.fence = kKillSent;
    }
  }
}

// Nothing left to hand over: no agent, and every task ended or killed once the lease ran out.
bool Done(const State& st, int64_t now) {
  if (st.agent >= 0) return false;
  const bool lapsed = st.expiry == 0 || now > st.expiry;
  for (const Slot& s : Used(st))
    if (s.used && !s.failed && !(lapsed && (s.exited || s.fence == kKillSent))) return false;
  return true;
}

}  // namespace

[[noreturn]] void Keep(int listen_fd, int agent_fd, int64_t grace_ms) {
  setsid();  // its own session and group: no terminal's or group's signal reaches it
  prctl(PR_SET_NAME, "muster-keeper");
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  for (int s : {SIGINT, SIGHUP, SIGTERM, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN,
                SIGTTOU})
    sigaction(s, &ign, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, nullptr);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_SETMASK, &chld, nullptr);
  // Its two descriptors become 3 and 4; every other inherited one is closed.
  const int moved_listen = listen_fd >= 0 ? fcntl(listen_fd, F_DUPFD_CLOEXEC, 100) : -1;
  const int moved_agent = fcntl(agent_fd, F_DUPFD_CLOEXEC, 100);
  if (moved_listen >= 0) dup3(moved_listen, 3, O_CLOEXEC);
  dup3(moved_agent, 4, O_CLOEXEC);
  if (syscall(SYS_close_range, 5U, ~0U, 0U) != 0)
    for (int fd = 5; fd < 65536; ++fd) close(fd);
  // Its standard descriptors: /dev/null, so that it holds no terminal or log pipe of the agent's
  // open, and no descriptor it makes lands on 0-2.
  const int null_fd = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3 && null_fd >= 0; ++fd)
    if (null_fd != fd) dup2(null_fd, fd);
  if (null_fd > 2) close(null_fd);
  void* mem = mmap(nullptr, sizeof(State), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) _exit(1);
  State& st = *static_cast<State*>(mem);  // zero-filled
  st.listen_fd = moved_listen >= 0 ? 3 : -1;
  st.agent = 4;
  st.agent_gen = 1;
  st.grace = grace_ms > 0 ? grace_ms : 5000;
  st.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  st.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (st.listen_fd >= 0) fcntl(st.listen_fd, F_SETFL, O_NONBLOCK);
  bool exits_due = false;
  while (true) {
    int n = 0;
    st.fds[n] = {st.listen_fd, POLLIN, 0};
    st.fd_slot[n++] = -1;
    st.fds[n] = {st.sigfd, POLLIN, 0};
    st.fd_slot[n++] = -1;
    if (st.agent >= 0) {
      st.fds[n] = {st.agent, static_cast<short>(POLLIN | (exits_due ? POLLOUT : 0)), 0};
      st.fd_slot[n++] = -1;
    }
    while (st.high > 0 && !st.slots[st.high - 1].used) --st.high;
    for (int i = 0; i < st.high; ++i)
      if (st.slots[i].used && st.slots[i].pending) {
        st.fds[n] = {st.slots[i].err_pipe, POLLIN, 0};
        st.fd_slot[n++] = i;
      }
    poll(st.fds, static_cast<nfds_t>(n), static_cast<int>(TaskKeeper::kPollMs));
    // Confirmed spawns first, so that a task's answer precedes its exit.
    for (int i = 0; i < n; ++i)
      if (st.fd_slot[i] >= 0 && st.fds[i].revents != 0) {
        Slot& s = st.slots[st.fd_slot[i]];
        if (s.used && s.pending) Resolve(st, s, false);
      }
    Reap(st);
    exits_due = SendExits(st);
    if (st.agent >= 0) {
      bool alive = true;
      for (int k = 0; k < 64 && alive; ++k) {
        pollfd p{st.agent, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0) break;
        alive = FromAgent(st);
      }
      if (!alive) CloseFd(st.agent);  // the agent is gone: its successor may attach
    }
    Accept(st);
    const int64_t now = MonoMs();
    FenceWhatIsDue(st, now);
    if (Done(st, now)) _exit(0);
  }
}

}  // namespace muster::agent::keeper_internal
