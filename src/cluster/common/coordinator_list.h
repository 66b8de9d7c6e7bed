// Coordinator address lists: `--coordinator a:7070,b:7070` (or the same in MUSTER_COORDINATOR)
// names every coordinator of a cluster whose coordinators share a PostgreSQL store; agents and
// clients go to whichever of them leads (only the leader serves), trying them in order.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace muster::cluster {

// The addresses of a comma-separated list of HOST:PORT (spaces around commas ignored; [v6]:PORT
// allowed), in order, without repeats. kInvalidArgument, one line naming the entry, for an empty
// list or entry, or an entry without a port of 1-65535. One address without a comma is taken as
// it is (any gRPC target: dns:///h:7070, unix:PATH); only an empty one is refused.
Result<std::vector<std::string>> ParseCoordinatorList(const std::string& list);

// The prefix of the message every call to a standby coordinator is answered with (UNAVAILABLE;
// coordinator/standby_server.h): "muster standby: this coordinator stands by; X leads".
inline constexpr const char* kStandbyPrefix = "muster standby: ";

// The next of `n` addresses to try after `index`, round robin.
inline size_t NextCoordinator(size_t index, size_t n) {
  return n == 0 ? 0 : (index + 1) % n;
}

}  // namespace muster::cluster
