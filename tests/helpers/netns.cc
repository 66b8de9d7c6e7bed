// See netns.h.
#include "tests/helpers/netns.h"

#include <unistd.h>

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
  const std::string tag = "mst" + std::to_string(::getpid() % 100000) + "x" +
                          std::to_string(g_serial++);
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
    if (!Ip({"-n", bridge_ns_, "link", "add", port, "type", "veth", "peer", "name", "eth0",
             "netns", ns}) ||
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
  std::vector<std::string> full = {kIp, "netns", "exec", names_[host]};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

bool NetworkHosts::Cut(int host) {
  return Ip({"-n", names_[host], "link", "set", "eth0", "down"});
}

bool NetworkHosts::Heal(int host) {
  return Ip({"-n", names_[host], "link", "set", "eth0", "up"});
}

}  // namespace muster::testing
