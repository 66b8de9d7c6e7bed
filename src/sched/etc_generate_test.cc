#include "sched/etc_generate.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace muster::sched {
namespace {

EtcMatrix Generate(EtcGenerateOptions options) {
  auto etc = GenerateEtc(options);
  EXPECT_TRUE(etc.ok()) << etc.status().ToString();
  return etc.ok() ? *etc : EtcMatrix();
}

bool RowSorted(const EtcMatrix& etc, int t, int first, int stride) {
  for (int m = first + stride; m < etc.machines(); m += stride) {
    if (etc.At(t, m) < etc.At(t, m - stride)) return false;
  }
  return true;
}

int SortedRows(const EtcMatrix& etc, int first, int stride) {
  int sorted = 0;
  for (int t = 0; t < etc.tasks(); ++t) sorted += RowSorted(etc, t, first, stride);
  return sorted;
}

TEST(EtcGenerate, ShapeAndRangesOfEachHeterogeneity) {
  using H = EtcHeterogeneity;
  for (H task : {H::kLow, H::kHigh}) {
    for (H machine : {H::kLow, H::kHigh}) {
      const EtcGenerateOptions options{.tasks = 300,
                                       .machines = 12,
                                       .task_heterogeneity = task,
                                       .machine_heterogeneity = machine,
                                       .seed = 5};
      const EtcMatrix etc = Generate(options);
      ASSERT_EQ(etc.tasks(), 300);
      ASSERT_EQ(etc.machines(), 12);
      const double rt = task == H::kHigh ? kEtcTaskRangeHigh : kEtcTaskRangeLow;
      const double rm = machine == H::kHigh ? kEtcMachineRangeHigh : kEtcMachineRangeLow;
      double sum = 0;
      for (int t = 0; t < etc.tasks(); ++t) {
        const double* row = etc.Row(t);
        const auto [lo, hi] = std::minmax_element(row, row + etc.machines());
        EXPECT_GE(*lo, 1) << EtcClassName(options);
        EXPECT_LT(*hi, rt * rm) << EtcClassName(options);
        // One baseline per task: within a row the entries differ by less than the machine range.
        EXPECT_LT(*hi / *lo, rm) << EtcClassName(options);
        for (int m = 0; m < etc.machines(); ++m) sum += row[m];
      }
      // The mean of q * r is E[q] E[r] = (1 + rt) / 2 * (1 + rm) / 2.
      const double mean = sum / (etc.tasks() * etc.machines());
      EXPECT_NEAR(mean / ((1 + rt) / 2 * (1 + rm) / 2), 1, 0.1) << EtcClassName(options);
    }
  }
}

TEST(EtcGenerate, ConsistencyOfRows) {
  EtcGenerateOptions options{.tasks = 200, .machines = 9, .seed = 3};
  options.consistency = EtcConsistency::kConsistent;
  const EtcMatrix consistent = Generate(options);
  EXPECT_EQ(SortedRows(consistent, 0, 1), 200);  // machine 0 fastest for every task, ...

  options.consistency = EtcConsistency::kSemiConsistent;
  const EtcMatrix semi = Generate(options);
  EXPECT_EQ(SortedRows(semi, 0, 2), 200);  // even columns sorted
  EXPECT_LT(SortedRows(semi, 1, 2), 20);   // odd columns as drawn
  EXPECT_LT(SortedRows(semi, 0, 1), 5);

  options.consistency = EtcConsistency::kInconsistent;
  const EtcMatrix inconsistent = Generate(options);
  EXPECT_LT(SortedRows(inconsistent, 0, 2), 20);
  EXPECT_LT(SortedRows(inconsistent, 0, 1), 5);
  // Sorting only reorders a row: the three matrices hold the same draws.
  for (int t = 0; t < 200; ++t) {
    std::vector<double> a(consistent.Row(t), consistent.Row(t) + 9);
    std::vector<double> b(semi.Row(t), semi.Row(t) + 9);
    std::vector<double> c(inconsistent.Row(t), inconsistent.Row(t) + 9);
    std::sort(b.begin(), b.end());
    std::sort(c.begin(), c.end());
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
  }
}

TEST(EtcGenerate, DeterministicPerSeed) {
  const EtcGenerateOptions options{.tasks = 64, .machines = 8, .seed = 11};
  const EtcMatrix a = Generate(options), b = Generate(options);
  EtcGenerateOptions other = options;
  other.seed = 12;
  const EtcMatrix c = Generate(other);
  int same = 0, differ = 0;
  for (int t = 0; t < 64; ++t) {
    for (int m = 0; m < 8; ++m) {
      same += a.At(t, m) == b.At(t, m);
      differ += a.At(t, m) != c.At(t, m);
    }
  }
  EXPECT_EQ(same, 64 * 8);
  EXPECT_EQ(differ, 64 * 8);
}

TEST(EtcGenerate, RejectsEmptyOrHugeShapes) {
  EXPECT_FALSE(GenerateEtc({.tasks = 0, .machines = 4}).ok());
  EXPECT_FALSE(GenerateEtc({.tasks = 4, .machines = -1}).ok());
  const auto huge = GenerateEtc({.tasks = 1'000'000, .machines = 1'000});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
}

TEST(EtcGenerate, ClassNamesFollowBraun) {
  using H = EtcHeterogeneity;
  EXPECT_EQ(EtcClassName({.consistency = EtcConsistency::kConsistent}), "c_hihi");
  EXPECT_EQ(EtcClassName({.task_heterogeneity = H::kLow, .machine_heterogeneity = H::kHigh}),
            "i_lohi");
  EXPECT_EQ(EtcClassName({.task_heterogeneity = H::kLow,
                          .machine_heterogeneity = H::kLow,
                          .consistency = EtcConsistency::kSemiConsistent}),
            "s_lolo");
}

}  // namespace
}  // namespace muster::sched
