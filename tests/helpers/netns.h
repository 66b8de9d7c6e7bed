// Network namespaces for multi-host tests: each "host" is a network namespace with its own
// loopback and one interface (eth0) on a private subnet, all joined by a bridge that lives in a
// namespace of its own, so nothing of it is visible to the machine's real network. Every
// namespace (and with it every interface) is deleted when the object dies, whatever the test did.
// Faults: Cut(h) takes a host's interface down (its traffic is dropped) and Heal(h) brings it back.
//
// Needs root and iproute2 (`ip`); ok() is false otherwise, with error() saying why.
// Thread-safety: one per test, used from the test's thread.
#pragma once

#include <string>
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
  // argv run inside host's namespace (`ip netns exec NS argv...`).
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

}  // namespace muster::testing
