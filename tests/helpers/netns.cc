// See netns.h.
#include "tests/helpers/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace muster::testing {

namespace {
constexpr const char* kIp = "/usr/sbin/ip";
int g_serial = 0;
}  // namespace

bool NetworkHosts::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kIp};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv, 20s);
  if (r.exit_code != 0) {
    if (error_.empty()) {
      std::string cmd;
      for (const auto& a : argv) cmd += a + " ";
      error_ = cmd + "failed: " + r.err;
    }
    return false;
  }
  return true;
}

NetworkHosts::NetworkHosts(int hosts) {
  if (::geteuid() != 0 || ::access(kIp, X_OK) != 0) {
    error_ = "needs root and iproute2 (" + std::string(kIp) + ")";
    return;
  }
  const std::string tag =
      "mst" + std::to_string(::getpid() % 100000) + "x" + std::to_string(g_serial++);
  bridge_ns_ = tag + "br";
  if (!Ip({"netns", "add", bridge_ns_})) return;
  names_.reserve(static_cast<size_t>(hosts));
  if (!Ip({"-n", bridge_ns_, "link", "add", "br0", "type", "bridge"}) ||
      !Ip({"-n", bridge_ns_, "link", "set", "br0", "up"}))
    return;
  for (int i = 0; i < hosts; ++i) {
    const std::string ns = tag + "h" + std::to_string(i);
    if (!Ip({"netns", "add", ns})) return;
    names_.push_back(ns);
    const std::string port = "p" + std::to_string(i);
    // Made inside the bridge's namespace, so no name ever appears in the machine's own.
    if (!Ip({"-n", bridge_ns_, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
             ns}) ||
        !Ip({"-n", bridge_ns_, "link", "set", port, "master", "br0"}) ||
        !Ip({"-n", bridge_ns_, "link", "set", port, "up"}) ||
        !Ip({"-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0"}) ||
        !Ip({"-n", ns, "link", "set", "eth0", "up"}) || !Ip({"-n", ns, "link", "set", "lo", "up"}))
      return;
  }
}

NetworkHosts::~NetworkHosts() {
  for (const auto& ns : names_) RunCommand({kIp, "netns", "del", ns}, 20s);
  if (!bridge_ns_.empty()) RunCommand({kIp, "netns", "del", bridge_ns_}, 20s);
}

std::vector<std::string> NetworkHosts::In(int host, std::vector<std::string> argv) const {
  // nsenter enters the network namespace only; `ip netns exec` would also remount /sys, hiding
  // the cgroup hierarchies from an agent.
  std::vector<std::string> full = {"/usr/bin/nsenter", "--net=/run/netns/" + names_[host], "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

bool NetworkHosts::Cut(int host) {
  return Ip({"-n", names_[host], "link", "set", "eth0", "down"});
}

bool NetworkHosts::Heal(int host) {
  return Ip({"-n", names_[host], "link", "set", "eth0", "up"});
}

// ---------------------------------------------------------------- TcpRelay

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A TCP socket in network namespace `ns` ("" = this thread's own): this thread enters it for the
// socket() call only.
int SocketIn(const std::string& ns) {
  if (ns.empty()) return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  int fd = -1;
  if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (setns(self, CLONE_NEWNET) != 0) std::abort();  // a thread left in the wrong namespace
  }
  if (self >= 0) close(self);
  if (target >= 0) close(target);
  return fd;
}

}  // namespace

TcpRelay::TcpRelay(std::string listen_ns, std::string connect_ns, std::string target_host,
                   int target_port)
    : connect_ns_(std::move(connect_ns)),
      target_host_(std::move(target_host)),
      target_port_(target_port) {
  if (pipe2(stop_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    error_ = "pipe failed";
    return;
  }
  listen_fd_ = SocketIn(listen_ns);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error_ = std::string("relay listener in '") + listen_ns + "': " + std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  if (stop_fds_[1] >= 0) (void)!write(stop_fds_[1], "x", 1);
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(connections_);
  }
  for (auto& t : threads) t.join();
  for (int fd : {listen_fd_, stop_fds_[0], stop_fds_[1]})
    if (fd >= 0) close(fd);
}

void TcpRelay::AcceptLoop() {
  while (!stop_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fds_[0], POLLIN, 0}};
    if (poll(fds, 2, 500) <= 0 || !(fds[0].revents & POLLIN)) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) continue;
    std::lock_guard lock(mu_);
    connections_.emplace_back([this, client] { Pump(client); });
  }
}

void TcpRelay::Pump(int client) {
  int server = SocketIn(connect_ns_);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(target_port_));
  inet_pton(AF_INET, target_host_.c_str(), &addr.sin_addr);
  bool connected = false;
  if (server >= 0 && (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
                      errno == EINPROGRESS)) {
    // A cut-off target answers nothing: give up after a few seconds, as a client would.
    const int64_t deadline = NowMs() + 3000;
    while (!stop_ && NowMs() < deadline) {
      pollfd p{server, POLLOUT, 0};
      if (poll(&p, 1, 100) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(server, SOL_SOCKET, SO_ERROR, &err, &len);
        connected = err == 0;
        break;
      }
    }
  }
  // Two directions: client -> server and server -> client, each a queue of chunks with the time
  // they may be passed on.
  struct Direction {
    int from, to;
    std::deque<std::pair<int64_t, std::string>> queue;
    size_t sent = 0;    // of the front chunk
    size_t queued = 0;  // bytes
    int64_t last_due = 0;
    bool eof = false, shut = false;
  };
  Direction dirs[2] = {{client, server, {}, 0, 0, 0, false, false},
                       {server, client, {}, 0, 0, 0, false, false}};
  bool failed = !connected;
  char buf[64 * 1024];
  while (!stop_ && !failed && !(dirs[0].shut && dirs[1].shut)) {
    const int64_t now = NowMs();
    int timeout = 200;
    short events[2] = {0, 0};  // for client, server
    for (int i = 0; i < 2; ++i) {
      Direction& d = dirs[i];
      if (!d.eof && d.queued < (8u << 20)) events[i] |= POLLIN;
      if (!d.queue.empty()) {
        if (d.queue.front().first <= now)
          events[1 - i] |= POLLOUT;
        else
          timeout = std::min<int64_t>(timeout, d.queue.front().first - now);
      }
    }
    pollfd fds[3] = {{client, events[0], 0}, {server, events[1], 0}, {stop_fds_[0], POLLIN, 0}};
    poll(fds, 3, std::max(timeout, 0));
    const int64_t at = NowMs();
    for (int i = 0; i < 2 && !failed; ++i) {
      Direction& d = dirs[i];
      if (!d.eof && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(d.from, buf, sizeof buf, 0);
        if (n > 0) {
          d.last_due = std::max(d.last_due, at + delay_ms_.load());
          d.queue.push_back({d.last_due, std::string(buf, static_cast<size_t>(n))});
          d.queued += static_cast<size_t>(n);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          d.eof = true;
        }
      }
      while (!d.queue.empty() && d.queue.front().first <= at) {
        const std::string& chunk = d.queue.front().second;
        ssize_t n = send(d.to, chunk.data() + d.sent, chunk.size() - d.sent, MSG_NOSIGNAL);
        if (n < 0) {
          failed = errno != EAGAIN && errno != EINTR;
          break;
        }
        d.sent += static_cast<size_t>(n);
        if (d.sent < chunk.size()) break;
        d.queued -= chunk.size();
        d.sent = 0;
        d.queue.pop_front();
      }
      if (d.eof && d.queue.empty() && !d.shut) {
        shutdown(d.to, SHUT_WR);
        d.shut = true;
      }
    }
  }
  close(client);
  if (server >= 0) close(server);
}

}  // namespace muster::testing
