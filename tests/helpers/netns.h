// Network namespaces for multi-host tests: each "host" is a network namespace with its own
// loopback and one interface (eth0) on a private subnet, all joined by a bridge that lives in a
// namespace of its own, so nothing of it is visible to the machine's real network. Every
// namespace (and with it every interface) is deleted when the object dies, whatever the test did.
// Faults: Cut(h) takes a host's interface down (its traffic is dropped) and Heal(h) brings it back.
//
// Needs root and iproute2 (`ip`); ok() is false otherwise, with error() saying why.
// Thread-safety: one per test, used from the test's thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {

class NetworkHosts {
 public:
  // `hosts` namespaces; host i gets address 10.213.0.(i+1).
  explicit NetworkHosts(int hosts);
  ~NetworkHosts();
  NetworkHosts(const NetworkHosts&) = delete;
  NetworkHosts& operator=(const NetworkHosts&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& ns(int host) const { return names_[host]; }
  std::string address(int host) const { return "10.213.0." + std::to_string(host + 1); }
  // argv run inside host's network namespace (nsenter; the mounts stay the machine's).
  std::vector<std::string> In(int host, std::vector<std::string> argv) const;
  // Drops every packet to and from the host / lets them through again.
  bool Cut(int host);
  bool Heal(int host);

 private:
  bool Ip(const std::vector<std::string>& args);
  std::string bridge_ns_;
  std::vector<std::string> names_;
  std::string error_;
};

// A TCP relay between namespaces: every connection made to 127.0.0.1:port() inside namespace
// `listen_ns` is forwarded to target_host:target_port, connected from namespace `connect_ns`
// ("" = this process's own for either; a socket keeps the namespace it was made in). Each chunk is
// held back by the current delay in both directions (SetDelayMs): the latency fault, where the
// kernel has no netem. Traffic stays on loopback and inside the test's namespaces.
// Thread-safety: SetDelayMs from any thread; the rest from the test's thread.
class TcpRelay {
 public:
  TcpRelay(std::string listen_ns, std::string connect_ns, std::string target_host, int target_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  void SetDelayMs(int ms) { delay_ms_ = ms; }

 private:
  void AcceptLoop();
  void Pump(int client);

  std::string connect_ns_, target_host_;
  int target_port_ = 0;
  int port_ = 0;
  int listen_fd_ = -1;
  int stop_fds_[2] = {-1, -1};
  std::atomic<int> delay_ms_{0};
  std::atomic<bool> stop_{false};
  std::string error_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // GUARDED_BY(mu_)
};

}  // namespace muster::testing
