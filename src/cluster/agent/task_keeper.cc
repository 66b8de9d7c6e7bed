// See task_keeper.h. The agent's side: attaching or forking, requests, and the reader thread.
#include "cluster/agent/task_keeper.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "cluster/agent/spawn_child.h"
#include "cluster/agent/task_keeper_loop.h"
#include "cluster/agent/task_keeper_wire.h"

namespace muster::agent {

using namespace keeper_wire;

namespace {

// The keeper's abstract socket address for the agent `name` (no file, so no path limit or
// stale file; the keeper checks who connects).
socklen_t KeeperAddress(const std::string& name, sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  const std::string id = "muster-keeper." + name;
  const size_t n = std::min(id.size(), sizeof addr->sun_path - 1);
  std::memcpy(addr->sun_path + 1, id.data(), n);  // sun_path[0] == 0: abstract
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

// Room for a spawn's message in the socket (as root beyond the system's default maximum).
void WidenSendBuffer(int sock) {
  const int bytes = static_cast<int>(kMaxMessage + sizeof(SpawnMsg) + 4096);
  if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

void Close(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

struct TaskKeeper::Waiter {
  bool done = false;
  bool copies_lost = false;  // the answer's copy descriptors did not arrive
  SpawnResult result;
  int step = 0, err = 0;
};

TaskKeeper::TaskKeeper(int sock, pid_t keeper_pid, bool attached)
    : sock_(sock), own_child_(!attached), attached_(attached), keeper_pid_(keeper_pid) {
  reader_ = std::thread([this] { Read(); });
}

Result<std::unique_ptr<TaskKeeper>> TaskKeeper::Start(const std::string& name, int64_t grace_ms) {
  sockaddr_un addr;
  const socklen_t addr_len = KeeperAddress(name, &addr);
  // A keeper left by a crashed agent of this name and work dir?
  int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return Status::Internal(std::string("cannot create a socket: ") + std::strerror(errno));
  if (connect(sock, reinterpret_cast<const sockaddr*>(&addr), addr_len) == 0) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != geteuid()) {
      close(sock);
      return Status::FailedPrecondition(
          "the task keeper's socket for this agent is held by uid " + std::to_string(peer.uid) +
          ", not by this agent's user; refusing to hand tasks to it");
    }
    WidenSendBuffer(sock);
    std::unique_ptr<TaskKeeper> k(new TaskKeeper(sock, peer.pid, true));
    std::unique_lock lock(k->mu_);
    const bool answered = k->cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      return k->adopt_done_ || k->lost_ || !k->busy_.empty();
    });
    if (!k->busy_.empty()) {
      const std::string why = k->busy_;
      lock.unlock();
      return Status::FailedPrecondition(why);
    }
    if (answered && k->adopt_done_) return k;
    lock.unlock();
    // The keeper ended meanwhile (it had nothing left to hand over): start a new one below.
  } else {
    close(sock);
  }

  int listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0 ||
      listen(listen_fd, 4) != 0) {
    const int err = errno;
    if (listen_fd >= 0) close(listen_fd);
    return Status::FailedPrecondition(
        "cannot listen for the task keeper of this agent: " + std::string(std::strerror(err)) +
        (err == EADDRINUSE ? " (another agent with this name and work dir is starting)" : ""));
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    const int err = errno;
    close(listen_fd);
    return Status::Internal(std::string("cannot create a socket pair: ") + std::strerror(err));
  }
  WidenSendBuffer(pair[0]);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(listen_fd);
    close(pair[0]);
    close(pair[1]);
    return Status::Internal(std::string("cannot start the task keeper: ") + std::strerror(err));
  }
  if (pid == 0) keeper_internal::Keep(listen_fd, pair[1], grace_ms);
  close(listen_fd);
  close(pair[1]);
  return std::unique_ptr<TaskKeeper>(new TaskKeeper(pair[0], pid, false));
}

TaskKeeper::~TaskKeeper() {
  bool ours;
  {
    std::lock_guard lock(mu_);
    closing_ = true;  // the link's end is ours: not a lost keeper
    ours = !attached_ || adopt_done_;  // not a keeper that refused us or never answered
  }
  if (ours) {
    ValueMsg quit{{kQuit, kVersion, 0}, 0};
    Send(&quit, sizeof quit, nullptr, 0);
  }
  shutdown(sock_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  close(sock_);
  {
    std::lock_guard lock(mu_);
    for (auto& a : adopted_)
      for (int* fd : {&a.out_read, &a.err_read, &a.out_copy, &a.err_copy}) Close(*fd);
  }
  if (own_child_) {
    int status = 0;
    while (waitpid(keeper_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::vector<AdoptedTask> TaskKeeper::TakeAdopted() {
  std::lock_guard lock(mu_);
  return std::move(adopted_);
}

void TaskKeeper::SetHandlers(ExitFn on_exit, LostFn on_lost) {
  std::lock_guard calls(handler_mu_);
  on_exit_ = std::move(on_exit);
  on_lost_ = std::move(on_lost);
  if (on_exit_) {
    for (const Exit& e : early_exits_) on_exit_(e.pid, e.wait_status, e.fenced);
    early_exits_.clear();
  }
  bool lost;
  {
    std::lock_guard lock(mu_);
    lost = lost_ && !closing_;
  }
  if (lost && on_lost_) on_lost_();
}

bool TaskKeeper::Send(const void* msg, size_t n, const int* fds, int nfds) {
  std::lock_guard lock(send_mu_);
  return SendMessage(sock_, msg, n, fds, nfds);
}

SpawnResult TaskKeeper::Spawn(const SpawnRequest& req, const KeptTaskInfo& info, int out_read,
                              int err_read) {
  SpawnResult result;
  if (req.argv.empty()) {
    result.error = "empty command";
    return result;
  }
  if (req.groups.size() > kMaxGroups || req.cgroup_procs_fds.size() + 4 > kMaxFds) {
    result.error = "the task has too many supplementary groups or cgroups for the task keeper";
    return result;
  }
  SpawnMsg m{};
  m.h = {kSpawn, kVersion, 0};
  m.info = info;
  m.set_user = req.set_user;
  m.uid = req.uid;
  m.gid = req.gid;
  m.ngroups = static_cast<uint32_t>(req.groups.size());
  for (size_t i = 0; i < req.groups.size(); ++i) m.groups[i] = req.groups[i];
  m.argc = static_cast<uint32_t>(req.argv.size());
  m.envc = static_cast<uint32_t>(req.env.size());
  m.ncgroup_fds = static_cast<uint32_t>(req.cgroup_procs_fds.size());
  m.same_copy = !req.stdout_copy_path.empty() && req.stderr_copy_path == req.stdout_copy_path;
  std::string strings = ResolveProgram(req.argv[0], req.env);
  strings.push_back('\0');
  for (const auto& a : req.argv) strings.append(a).push_back('\0');
  for (const auto& e : req.env) strings.append(e).push_back('\0');
  for (const std::string* s : {&req.cwd, &req.stdout_copy_path, &req.stderr_copy_path})
    strings.append(*s).push_back('\0');
  if (strings.size() > kMaxMessage) {
    result.error = "the task's command line and environment are too large (" +
                   std::to_string(strings.size()) + " bytes; at most " +
                   std::to_string(kMaxMessage) + ")";
    return result;
  }
  m.strings = static_cast<uint32_t>(strings.size());
  std::string msg(reinterpret_cast<const char*>(&m), sizeof m);
  msg += strings;
  int fds[kMaxFds];
  int nfds = 0;
  fds[nfds++] = req.stdout_fd;
  fds[nfds++] = req.stderr_fd;
  fds[nfds++] = out_read;
  fds[nfds++] = err_read;
  for (int fd : req.cgroup_procs_fds) fds[nfds++] = fd;

  Waiter w;
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    if (lost_) {
      result.error = "the node's task keeper is gone";
      return result;
    }
    id = next_id_++;
    waiters_[id] = &w;
  }
  reinterpret_cast<SpawnMsg*>(msg.data())->h.id = id;
  const bool sent = Send(msg.data(), msg.size(), fds, nfds);
  const int send_errno = errno;
  std::unique_lock lock(mu_);
  if (!sent) {
    waiters_.erase(id);
    result.error = std::string("cannot reach the node's task keeper: ") + std::strerror(send_errno);
    return result;
  }
  cv_.wait(lock, [&] { return w.done || lost_; });
  waiters_.erase(id);
  if (!w.done) {
    result.error = "the node's task keeper is gone";
    return result;
  }
  if (w.result.pid <= 0) w.result.error = DescribeSpawnFailure(w.step, w.err, req);
  if (w.copies_lost)
    spdlog::warn("{}: its output copy files could not be received (out of descriptors); only "
                 "muster's own log of it is kept",
                 req.argv[0]);
  return w.result;
}

void TaskKeeper::Forget(int pid) {
  ValueMsg f{{kForget, kVersion, 0}, pid};
  Send(&f, sizeof f, nullptr, 0);
}

int64_t TaskKeeper::NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void TaskKeeper::Renew(int64_t expiry_ms) {
  int64_t cur = expiry_.load();
  while (expiry_ms > cur && !expiry_.compare_exchange_weak(cur, expiry_ms)) {
  }
  if (expiry_ms <= cur) return;
  ValueMsg r{{kRenew, kVersion, 0}, expiry_ms};
  Send(&r, sizeof r, nullptr, 0);
}

void TaskKeeper::SetGrace(int64_t grace_ms) {
  if (grace_ms <= 0) return;
  ValueMsg g{{kGrace, kVersion, 0}, grace_ms};
  Send(&g, sizeof g, nullptr, 0);
}

bool TaskKeeper::Expired() const {
  const int64_t e = expiry_.load();
  return e > 0 && NowMs() > e;
}

bool TaskKeeper::Lost() {
  std::lock_guard lock(mu_);
  return lost_ && !closing_;
}

void TaskKeeper::Read() {
  std::string buf(sizeof(AdoptMsg) + sizeof(SpawnedMsg) + 256, '\0');
  while (true) {
    int fd_array[kMaxFds];
    int nfds = 0;
    bool whole = false, fds_cut = false;
    const ssize_t n =
        ReceiveMessage(sock_, buf.data(), buf.size(), 0, fd_array, &nfds, &whole, &fds_cut);
    if (n <= 0) break;
    std::vector<int> fds(fd_array, fd_array + nfds);
    if (!whole) {  // not one of the keeper's messages
      for (int fd : fds) close(fd);
      continue;
    }
    // Descriptors lost on the way (this process was out of them): the message still counts, as
    // a spawn's answer or an end must, but none of its descriptors can be trusted to be which.
    if (fds_cut) {
      for (int fd : fds) close(fd);
      fds.clear();
    }
    size_t used_fds = 0;
    auto take_fd = [&]() { return used_fds < fds.size() ? fds[used_fds++] : -1; };
    Header h{};
    if (static_cast<size_t>(n) >= sizeof h) std::memcpy(&h, buf.data(), sizeof h);
    if (static_cast<size_t>(n) >= sizeof h && h.version != kVersion) {
      // A keeper left by another build of muster: none of its messages can be read.
      for (int fd : fds) close(fd);
      std::lock_guard lock(mu_);
      busy_ = "the task keeper left here by the previous agent (pid " +
              std::to_string(keeper_pid_) +
              ") is from another version of muster; it stops its tasks and ends when their "
              "lease runs out, or stop it sooner with kill " + std::to_string(keeper_pid_);
      cv_.notify_all();
      continue;
    }
    std::optional<Exit> exit;
    {
      std::lock_guard lock(mu_);
      if (h.type == kSpawned && static_cast<size_t>(n) >= sizeof(SpawnedMsg)) {
        SpawnedMsg s;
        std::memcpy(&s, buf.data(), sizeof s);
        auto it = waiters_.find(h.id);
        if (it != waiters_.end()) {
          Waiter& w = *it->second;
          w.result.pid = s.pid;
          w.step = s.step;
          w.err = s.err;
          if (s.out_copy) w.result.stdout_copy_fd = take_fd();
          if (s.err_copy) w.result.stderr_copy_fd = take_fd();
          w.copies_lost = fds_cut && (s.out_copy || s.err_copy);
          w.done = true;
        }
      } else if (h.type == kExited && static_cast<size_t>(n) >= sizeof(ExitedMsg)) {
        ExitedMsg e;
        std::memcpy(&e, buf.data(), sizeof e);
        exit = Exit{e.pid, e.wait_status, e.fenced != 0};
      } else if (h.type == kAdopt && static_cast<size_t>(n) >= sizeof(AdoptMsg)) {
        AdoptMsg a;
        std::memcpy(&a, buf.data(), sizeof a);
        AdoptedTask t;
        t.info = a.info;
        t.pid = a.pid;
        t.exited = a.exited != 0;
        t.wait_status = a.wait_status;
        t.fenced = a.fenced != 0;
        t.out_read = take_fd();
        t.err_read = take_fd();
        if (a.out_copy) t.out_copy = take_fd();
        if (a.err_copy) t.err_copy = take_fd();
        adopted_.push_back(t);
      } else if (h.type == kAdoptDone && static_cast<size_t>(n) >= sizeof(ValueMsg)) {
        ValueMsg d;
        std::memcpy(&d, buf.data(), sizeof d);
        keeper_pid_ = static_cast<pid_t>(d.value);  // the peer credential names the listener
        adopt_done_ = true;
      } else if (h.type == kBusy && static_cast<size_t>(n) >= sizeof(ValueMsg)) {
        ValueMsg b;
        std::memcpy(&b, buf.data(), sizeof b);
        busy_ = "another agent with this name and work dir is running (its task keeper, pid " +
                std::to_string(b.value) + ", serves it)";
      }
      cv_.notify_all();
    }
    for (size_t i = used_fds; i < fds.size(); ++i) close(fds[i]);
    if (exit) {
      std::lock_guard calls(handler_mu_);
      if (on_exit_) on_exit_(exit->pid, exit->wait_status, exit->fenced);
      else early_exits_.push_back(*exit);
    }
  }
  bool closing;
  {
    std::lock_guard lock(mu_);
    lost_ = true;
    closing = closing_;
    cv_.notify_all();
  }
  std::lock_guard calls(handler_mu_);
  if (!closing && on_lost_) on_lost_();
}

}  // namespace muster::agent
