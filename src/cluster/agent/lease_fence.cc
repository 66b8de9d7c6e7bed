// See lease_fence.h.
#include "cluster/agent/lease_fence.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

namespace muster::agent {

namespace {

enum SlotState : int32_t {
  kFree = 0,
  kWatched = 1,
  kFencedTerm = 2,  // SIGTERM sent, SIGKILL due at kill_at
  kFencedKill = 3,  // SIGKILL sent
  kBusy = 4,        // being filled or emptied by the agent
};

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

struct LeaseFence::Shared {
  std::atomic<int64_t> expiry_ms{0};
  std::atomic<int64_t> grace_ms{5000};
  std::atomic<int32_t> quit{0};
  std::atomic<int32_t> agent_pid{0};
  std::atomic<int32_t> high{0};  // slots [0, high) have been used
  struct Slot {
    std::atomic<int32_t> pgid{0};
    std::atomic<int32_t> state{kFree};
    std::atomic<int64_t> kill_at{0};
    char kill_file[kKillPathMax + 1] = {};  // written by the agent before state becomes watched
    char reason_file[kKillPathMax + 1] = {};
  };
  Slot slots[kSlots];
};

static_assert(std::atomic<int64_t>::is_always_lock_free && std::atomic<int32_t>::is_always_lock_free,
              "the fence shares atomics between processes");

namespace {

// The keeper's loop. Runs in the forked child: atomics and system calls only.
[[noreturn]] void Keep(LeaseFence::Shared* sh) {
  setpgid(0, 0);
  prctl(PR_SET_NAME, "muster-fence");
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  for (int s : {SIGINT, SIGHUP, SIGTERM, SIGPIPE, SIGQUIT, SIGUSR1, SIGUSR2})
    sigaction(s, &ign, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  const pid_t agent = sh->agent_pid.load();
  const timespec pause{0, LeaseFence::kPollMs * 1000000};
  while (sh->quit.load() == 0) {
    const int64_t now = MonoMs();
    const bool agent_gone = getppid() != agent;
    const int64_t expiry = sh->expiry_ms.load();
    const bool lapsed = agent_gone || (expiry > 0 && now > expiry);
    bool pending = false;  // a group still to be fenced or killed
    const int32_t high = sh->high.load();
    for (int32_t i = 0; i < high; ++i) {
      auto& slot = sh->slots[i];
      int32_t st = slot.state.load();
      const pid_t pgid = slot.pgid.load();
      if (st == kWatched && lapsed && pgid > 0) {
        slot.kill_at.store(now + sh->grace_ms.load());
        if (slot.state.compare_exchange_strong(st, kFencedTerm)) {
          if (slot.reason_file[0] != '\0') {  // why, for the task to read on the SIGTERM
            const int fd = open(slot.reason_file,
                                O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd >= 0) {
              ssize_t w = write(fd, "node-lost\n", 10);
              (void)w;
              close(fd);
            }
          }
          killpg(pgid, SIGTERM);
          killpg(pgid, SIGCONT);  // a stopped group would never see the TERM
        }
        st = slot.state.load();
      }
      if (st == kFencedTerm && now >= slot.kill_at.load() && pgid > 0 &&
          slot.state.compare_exchange_strong(st, kFencedKill)) {
        killpg(pgid, SIGKILL);
        if (slot.kill_file[0] != '\0') {  // the rest of the task, outside its group too
          const int fd = open(slot.kill_file, O_WRONLY | O_CLOEXEC);
          if (fd >= 0) {
            ssize_t w = write(fd, "1", 1);
            (void)w;
            close(fd);
          }
        }
      }
      st = slot.state.load();
      if (st == kWatched || st == kFencedTerm || st == kBusy) pending = true;
    }
    if (agent_gone && !pending) _exit(0);
    nanosleep(&pause, nullptr);
  }
  _exit(0);
}

}  // namespace

int64_t LeaseFence::NowMs() {
  return MonoMs();
}

Result<std::unique_ptr<LeaseFence>> LeaseFence::Start(int64_t grace_ms) {
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED)
    return Status::Internal(std::string("cannot map the lease fence: ") + std::strerror(errno));
  Shared* sh = new (mem) Shared();
  sh->grace_ms.store(grace_ms > 0 ? grace_ms : 5000);
  sh->agent_pid.store(getpid());
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    munmap(mem, sizeof(Shared));
    return Status::Internal(std::string("cannot start the lease fence: ") + std::strerror(err));
  }
  if (pid == 0) Keep(sh);
  setpgid(pid, pid);
  return std::unique_ptr<LeaseFence>(new LeaseFence(sh, pid));
}

LeaseFence::~LeaseFence() {
  shared_->quit.store(1);
  int status = 0;
  while (waitpid(keeper_, &status, 0) < 0 && errno == EINTR) {
  }
  munmap(shared_, sizeof(Shared));
}

void LeaseFence::Renew(int64_t expiry_ms) {
  int64_t cur = shared_->expiry_ms.load();
  while (expiry_ms > cur && !shared_->expiry_ms.compare_exchange_weak(cur, expiry_ms)) {
  }
}

void LeaseFence::SetGrace(int64_t grace_ms) {
  if (grace_ms > 0) shared_->grace_ms.store(grace_ms);
}

int64_t LeaseFence::expiry_ms() const {
  return shared_->expiry_ms.load();
}

bool LeaseFence::Expired() const {
  const int64_t e = shared_->expiry_ms.load();
  return e > 0 && NowMs() > e;
}

int LeaseFence::Add(pid_t pgid, const std::string& kill_file, const std::string& reason_file) {
  for (int i = 0; i < kSlots; ++i) {
    auto& slot = shared_->slots[i];
    int32_t expected = kFree;
    if (!slot.state.compare_exchange_strong(expected, kBusy)) continue;
    const size_t n = kill_file.size() <= kKillPathMax ? kill_file.size() : 0;
    std::memcpy(slot.kill_file, kill_file.data(), n);
    slot.kill_file[n] = '\0';
    const size_t r = reason_file.size() <= kKillPathMax ? reason_file.size() : 0;
    std::memcpy(slot.reason_file, reason_file.data(), r);
    slot.reason_file[r] = '\0';
    slot.pgid.store(pgid);
    slot.kill_at.store(0);
    int32_t h = shared_->high.load();
    while (h < i + 1 && !shared_->high.compare_exchange_weak(h, i + 1)) {
    }
    slot.state.store(kWatched);
    return i;
  }
  return -1;
}

bool LeaseFence::Remove(int slot) {
  if (slot < 0 || slot >= kSlots) return false;
  auto& s = shared_->slots[slot];
  const int32_t was = s.state.exchange(kBusy);
  s.pgid.store(0);
  s.state.store(kFree);
  return was == kFencedTerm || was == kFencedKill;
}

bool LeaseFence::Fenced(int slot) const {
  if (slot < 0 || slot >= kSlots) return false;
  const int32_t st = shared_->slots[slot].state.load();
  return st == kFencedTerm || st == kFencedKill;
}

}  // namespace muster::agent
