// RefusalSampler: bounds the audit rows of calls refused before anyone was identified (no
// credential, or a bad one). Such callers have no identity to rate-limit, so a flood of them
// would otherwise add one store row per call. At most one row per peer host per interval is
// written; the next row from that host counts the refusals left out before it. What an
// unauthenticated flood adds to the store is then bounded by hosts x time, not by calls.
//
// Thread-safety: thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace muster::cluster {

class RefusalSampler {
 public:
  explicit RefusalSampler(DurationMs interval_ms = 1000, size_t max_hosts = 4096)
      : interval_ms_(interval_ms), max_hosts_(max_hosts) {}

  // Whether to write a row for a refusal from `peer` ("ipv4:10.0.0.2:51234") at now_ms (a
  // monotonic time); when true, *left_out is the number of this host's refusals not written
  // since its last row.
  bool Admit(std::string_view peer, TimeMs now_ms, int64_t* left_out);

  // The host part of a gRPC peer string: "ipv4:10.0.0.2:51234" -> "ipv4:10.0.0.2".
  static std::string_view HostOf(std::string_view peer);

 private:
  struct Host {
    TimeMs last_ms = 0;
    int64_t left_out = 0;
  };
  const DurationMs interval_ms_;
  const size_t max_hosts_;
  std::mutex mu_;
  std::unordered_map<std::string, Host> hosts_;
};

}  // namespace muster::cluster
