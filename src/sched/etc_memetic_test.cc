#include "sched/etc_memetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "sched/etc_generate.h"
#include "sched/etc_heuristics.h"
#include "sched/etc_test_expect.h"

namespace muster::sched {
namespace {

using testing::ExpectConsistent;

EtcMatrix Generated(EtcConsistency consistency, int tasks, int machines, uint64_t seed) {
  auto etc =
      GenerateEtc({.tasks = tasks, .machines = machines, .consistency = consistency, .seed = seed});
  EXPECT_TRUE(etc.ok());
  return *etc;
}

double RecomputedMakespan(const EtcMatrix& etc, const EtcSchedule& s) {
  const std::vector<double> loads = MachineLoads(etc, s.machine_of);
  return *std::max_element(loads.begin(), loads.end());
}

// A clock that moves 1 ms each time it is read: a time budget runs out after a fixed number of
// checks, without sleeping.
class SteppingClock final : public Clock {
 public:
  TimeMs NowMs() const override { return now_++; }

 private:
  mutable TimeMs now_ = 0;
};

TEST(EtcMemetic, DeterministicForSeedAndIterationBudget) {
  const EtcMatrix etc = Generated(EtcConsistency::kConsistent, 96, 8, 1);
  const EtcSchedule start = MinMin(etc);
  const MemeticOptions options{.seed = 7, .max_generations = 300};
  MemeticStats sa, sb;
  const EtcSchedule a = MemeticSearch(etc, start, options, &sa);
  const EtcSchedule b = MemeticSearch(etc, start, options, &sb);
  EXPECT_EQ(a.machine_of, b.machine_of);
  EXPECT_EQ(a.makespan, b.makespan);
  EXPECT_EQ(sa.generations, 300);
  EXPECT_EQ(sa.improvements, sb.improvements);
  EXPECT_EQ(sa.lower_bound, sb.lower_bound);
}

TEST(EtcMemetic, ValidScheduleWhoseMakespanMatchesRecomputedLoads) {
  for (EtcConsistency consistency : {EtcConsistency::kConsistent, EtcConsistency::kInconsistent,
                                     EtcConsistency::kSemiConsistent}) {
    const EtcMatrix etc = Generated(consistency, 80, 6, 2);
    const EtcSchedule s = MemeticSearch(etc, MinMin(etc), {.max_generations = 200});
    ExpectConsistent(etc, s);
    EXPECT_EQ(s.heuristic, "memetic");
    EXPECT_DOUBLE_EQ(s.makespan, RecomputedMakespan(etc, s));
    std::vector<double> finish(etc.machines(), 0);
    for (const auto& row : s.rows) finish[row.machine] = row.finish;
    EXPECT_EQ(finish, s.machine_finish);
  }
}

TEST(EtcMemetic, NeverWorseThanItsStart) {
  const EtcMatrix etc = Generated(EtcConsistency::kInconsistent, 60, 5, 3);
  for (const EtcSchedule& start :
       {MinMin(etc), OpportunisticLoadBalancing(etc), MinimumExecutionTime(etc), Sufferage(etc)}) {
    for (uint64_t seed : {1, 2, 3}) {
      MemeticStats stats;
      const EtcSchedule s =
          MemeticSearch(etc, start, {.seed = seed, .max_generations = 50}, &stats);
      EXPECT_LE(s.makespan, start.makespan) << start.heuristic << " seed " << seed;
      EXPECT_DOUBLE_EQ(stats.start_makespan, start.makespan);
      // The LP bound holds for the start and for the result.
      EXPECT_LE(stats.lower_bound, s.makespan);
    }
  }
}

TEST(EtcMemetic, KeepsAnOptimalStart) {
  // Each task is fastest on its own machine and no move or swap helps: the start is optimal.
  const EtcMatrix etc(3, 3, {1, 9, 9, 9, 1, 9, 9, 9, 1});
  const std::vector<int> diagonal = {0, 1, 2};
  const EtcSchedule start = BuildEtcSchedule(etc, diagonal, {0, 1, 2}, "given");
  const EtcSchedule s = MemeticSearch(etc, start, {.max_generations = 20});
  EXPECT_EQ(s.machine_of, diagonal);
  EXPECT_DOUBLE_EQ(s.makespan, 1);
  EXPECT_EQ(s.heuristic, "memetic");
}

TEST(EtcMemetic, ImprovesMinMinOnSmallGeneratedInstances) {
  for (EtcConsistency consistency : {EtcConsistency::kConsistent, EtcConsistency::kInconsistent}) {
    const EtcMatrix etc = Generated(consistency, 128, 8, 4);
    const EtcSchedule minmin = MinMin(etc);
    MemeticStats stats;
    const EtcSchedule s = MemeticSearch(etc, minmin, {.max_generations = 500}, &stats);
    EXPECT_LT(s.makespan, 0.97 * minmin.makespan);
    // Close to the LP bound: within 3% of it.
    EXPECT_LT(s.makespan, 1.03 * stats.lower_bound);
    EXPECT_GT(stats.improvements, 0);
  }
}

TEST(EtcMemetic, StopsWhenTheTimeBudgetHasPassed) {
  const EtcMatrix etc = Generated(EtcConsistency::kConsistent, 64, 4, 5);
  const SteppingClock clock;
  MemeticStats stats;
  const EtcSchedule s =
      MemeticSearch(etc, MinMin(etc),
                    {.max_generations = 1'000'000, .clock = &clock, .time_budget_ms = 30}, &stats);
  EXPECT_LT(stats.generations, 30);
  ExpectConsistent(etc, s);
}

TEST(EtcMemetic, SingleMachineOrNoTasksReturnsTheStart) {
  const EtcMatrix one(3, 1, {2, 3, 4});
  const EtcSchedule start = MinMin(one);
  MemeticStats stats;
  const EtcSchedule s = MemeticSearch(one, start, {}, &stats);
  EXPECT_EQ(s.machine_of, start.machine_of);
  EXPECT_DOUBLE_EQ(s.makespan, 9);
  EXPECT_EQ(stats.generations, 0);

  const EtcMatrix empty(0, 3, {});
  const EtcSchedule none = MemeticSearch(empty, MinMin(empty), {});
  EXPECT_TRUE(none.machine_of.empty());
  EXPECT_DOUBLE_EQ(none.makespan, 0);
}

TEST(EtcLagrangianBound, EqualMachinesGiveTheAverageLoad) {
  // Identical machines: the LP spreads the work evenly, and equal prices attain it.
  const EtcMatrix etc(3, 2, {4, 4, 3, 3, 5, 5});
  const EtcPriceBound bound = LagrangianBound(etc, 50);
  EXPECT_DOUBLE_EQ(bound.makespan, 6);
  ASSERT_EQ(bound.prices.size(), 2u);
  EXPECT_DOUBLE_EQ(std::accumulate(bound.prices.begin(), bound.prices.end(), 0.0), 1);
}

TEST(EtcLagrangianBound, BelowEveryScheduleAndTighterWithMoreRounds) {
  const EtcMatrix etc = Generated(EtcConsistency::kInconsistent, 100, 8, 6);
  const EtcPriceBound few = LagrangianBound(etc, 20);
  const EtcPriceBound many = LagrangianBound(etc, 2000);
  EXPECT_LE(few.makespan, many.makespan);
  for (const auto& name : EtcHeuristicNames()) {
    if (name == "tabu" || name == "memetic") continue;
    auto s = RunEtcHeuristic(name, etc);
    ASSERT_TRUE(s.ok());
    EXPECT_LE(many.makespan, s->makespan) << name;
  }
}

TEST(EtcLagrangianBound, ApproachesTheLpOptimumOfOneSplitTask) {
  // One task taking 2 on m0 and 6 on m1: the LP runs 3/4 of it on m0 and 1/4 on m1, both busy
  // 1.5; prices (3/4, 1/4) attain that.
  const EtcMatrix etc(1, 2, {2, 6});
  const EtcPriceBound bound = LagrangianBound(etc, 2000);
  EXPECT_LE(bound.makespan, 1.5);
  EXPECT_NEAR(bound.makespan, 1.5, 0.01);
  EXPECT_NEAR(bound.prices[0], 0.75, 0.01);
}

}  // namespace
}  // namespace muster::sched
