// Test helper: checks that an EtcSchedule is a consistent schedule table for its matrix (every
// task once, back-to-back on its machine, makespan = latest finish). Pure; gtest assertions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sched/etc_heuristics.h"

namespace muster::sched::testing {

inline void ExpectConsistent(const EtcMatrix& etc, const EtcSchedule& s) {
  ASSERT_EQ(static_cast<int>(s.machine_of.size()), etc.tasks());
  ASSERT_EQ(static_cast<int>(s.rows.size()), etc.tasks());
  std::vector<int> seen(etc.tasks(), 0);
  std::vector<double> ready(etc.machines(), 0);
  for (const auto& r : s.rows) {
    ++seen[r.task];
    EXPECT_EQ(r.machine, s.machine_of[r.task]);
    EXPECT_DOUBLE_EQ(r.start, ready[r.machine]);
    EXPECT_DOUBLE_EQ(r.finish, r.start + etc.At(r.task, r.machine));
    ready[r.machine] = r.finish;
  }
  for (int c : seen) EXPECT_EQ(c, 1);
  EXPECT_DOUBLE_EQ(s.makespan, *std::max_element(ready.begin(), ready.end()));
}

}  // namespace muster::sched::testing
