// Injected time. The pure core never reads a wall clock: the coordinator passes a system clock,
// the simulator and tests a ManualClock. Times are milliseconds since an arbitrary epoch.
#pragma once

#include <cstdint>

namespace muster {

using TimeMs = int64_t;
using DurationMs = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Current time in milliseconds. Thread-safe in every implementation.
  virtual TimeMs NowMs() const = 0;
  // A clock that never steps (for deadlines and liveness): NowMs() unless overridden. Only
  // differences between its readings mean anything.
  virtual TimeMs MonotonicMs() const { return NowMs(); }
};

// A clock that moves only when told to. Not thread-safe; for tests and the simulator.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start = 0) : now_(start) {}
  TimeMs NowMs() const override { return now_; }
  void Set(TimeMs t) { now_ = t; }
  void Advance(DurationMs d) { now_ += d; }

 private:
  TimeMs now_;
};

}  // namespace muster
