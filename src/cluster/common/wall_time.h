// The processes' clocks, read directly (the coordinator's logic reads them through core's Clock,
// so that tests can drive it): wall time for what is stored, shown or compared with certificate
// dates; steady time for intervals.
#pragma once

#include <chrono>
#include <cstdint>

namespace muster::cluster {

// Milliseconds since the Unix epoch.
inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Milliseconds on the monotonic clock (unrelated to the wall time; never steps).
inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace muster::cluster
