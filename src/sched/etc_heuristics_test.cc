#include "sched/etc_heuristics.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "sched/etc_test_expect.h"

namespace muster::sched {
namespace {

using testing::ExpectConsistent;

// 4 tasks x 2 machines, small enough to follow by hand.
//        m0  m1
//   t0    4   6
//   t1    3   1
//   t2    5   9
//   t3    2   2
EtcMatrix Small() {
  return EtcMatrix(4, 2, {4, 6, 3, 1, 5, 9, 2, 2});
}


TEST(EtcHeuristics, HandComputedSmallInstance) {
  const EtcMatrix etc = Small();
  // OLB: t0->m0 (both free, lowest index), t1->m1 (ready 0), t2->m1 (1 < 4), t3->m0 (4 < 10).
  EtcSchedule s = OpportunisticLoadBalancing(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{0, 1, 1, 0}));
  EXPECT_DOUBLE_EQ(s.makespan, 10);
  // MET: t0 m0, t1 m1, t2 m0, t3 tie -> m0. Loads m0 = 11, m1 = 1.
  s = MinimumExecutionTime(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{0, 1, 0, 0}));
  EXPECT_DOUBLE_EQ(s.makespan, 11);
  // MCT: t0 m0 (4), t1 m1 (1), t2: m0 9 vs m1 10 -> m0, t3: m0 11 vs m1 3 -> m1.
  s = MinimumCompletionTime(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_DOUBLE_EQ(s.makespan, 9);
  // Min-min: t1 m1 (1); t3 m0 (2) ; t0 m0 (6) vs m1 (7) -> m0 (6); t2: m0 11, m1 10 -> m1.
  s = MinMin(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ((std::vector<int>{s.rows[0].task, s.rows[1].task, s.rows[2].task, s.rows[3].task}),
            (std::vector<int>{1, 3, 0, 2}));
  EXPECT_DOUBLE_EQ(s.makespan, 10);
  // Max-min: best cts 4,1,5,2 -> t2 m0 (5); then t0: m0 9, m1 6 -> 6 (max among 6,1,7?) ...
  // after t2 on m0: t0 best m1 6, t1 best m1 1, t3 best m1 2 -> t0 m1 (6);
  // then t1: m0 8, m1 7 -> m1 7; t3: m0 7, m1 8 -> m0 7; max is t1 (7, lower index on tie).
  // then t3: m0 7, m1 9 -> m0 7. Loads m0 = 7, m1 = 7.
  s = MaxMin(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{1, 1, 0, 0}));
  EXPECT_DOUBLE_EQ(s.makespan, 7);
  // Sufferage round 1: t0 m0 suff 2; t1 m1 suff 2; t2 m0 suff 4 (beats t0); t3 m0 suff 0 (loses).
  //   -> t2 on m0 (5), t1 on m1 (1).
  // round 2: t0: m0 9, m1 7 -> m1 suff 2; t3: m0 7, m1 3 -> m1 suff 4 (wins). -> t3 m1 (3).
  // round 3: t0: m0 9, m1 9 -> m0 (lowest index). Loads m0 = 9, m1 = 3.
  s = Sufferage(etc);
  EXPECT_EQ(s.machine_of, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_DOUBLE_EQ(s.makespan, 9);
  for (const auto& name : EtcHeuristicNames()) {
    auto r = RunEtcHeuristic(name, etc);
    ASSERT_TRUE(r.ok()) << name;
    ExpectConsistent(etc, *r);
  }
}

TEST(EtcHeuristics, TabuFindsOptimumOfSmallInstance) {
  // Optimum is 7 (e.g. max-min's); min-min gives 10.
  auto r = RunEtcHeuristic("tabu", Small());
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->makespan, 7);
  ExpectConsistent(Small(), *r);
}

TEST(EtcHeuristics, UnknownNameIsAnError) {
  auto r = RunEtcHeuristic("fastest", Small());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown heuristic 'fastest'"), std::string::npos);
}

}  // namespace
}  // namespace muster::sched
