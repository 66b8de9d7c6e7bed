#include "model/balance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace muster::model {
namespace {

TEST(Balance, SeedExample) {
  const BalanceReport r = Evaluate(kSeedExampleLoads);
  EXPECT_EQ(r.n, 4);
  EXPECT_NEAR(r.seed_bal, 0.42 / 5.76, 1e-12);  // 0.0729...
  EXPECT_NEAR(r.seed_bal, 0.0729, 5e-5);
  EXPECT_NEAR(r.jain, 1.44 / 1.68, 1e-12);  // 0.857
  EXPECT_NEAR(r.jain, 0.857, 5e-4);
  EXPECT_NEAR(r.mean, 0.3, 1e-12);
  EXPECT_NEAR(r.stddev, std::sqrt(0.015), 1e-12);
  EXPECT_NEAR(r.cov, std::sqrt(0.015) / 0.3, 1e-12);
  EXPECT_NEAR(r.imbalance_factor, 0.5 / 0.3 - 1, 1e-12);
  EXPECT_NEAR(r.relative_imbalance, 0.4, 1e-12);
  // J = 1 / (N^2 Bal).
  EXPECT_NEAR(r.jain, 1 / (16 * r.seed_bal), 1e-12);
  // The seed text's numbers differ from the formula.
  EXPECT_GT(std::fabs(kSeedTextComputedBal - r.seed_bal), 0.03);
  EXPECT_GT(std::fabs(kSeedTextPrintedBal - r.seed_bal), 0.1);
}

TEST(Balance, EqualLoadsAreBalanced) {
  const std::vector<double> loads(5, 3.0);
  const BalanceReport r = Evaluate(loads);
  EXPECT_DOUBLE_EQ(r.jain, 1);
  EXPECT_DOUBLE_EQ(r.cov, 0);
  EXPECT_DOUBLE_EQ(r.imbalance_factor, 0);
  EXPECT_DOUBLE_EQ(r.relative_imbalance, 0);
  EXPECT_DOUBLE_EQ(r.seed_bal, 1.0 / 25);  // 1/N^2, not 1 as the seed claimed
}

TEST(Balance, OneNodeCarriesEverything) {
  const std::vector<double> loads{0, 0, 8, 0};
  const BalanceReport r = Evaluate(loads);
  EXPECT_DOUBLE_EQ(r.jain, 0.25);
  EXPECT_DOUBLE_EQ(r.imbalance_factor, 3);  // N - 1
  EXPECT_DOUBLE_EQ(r.relative_imbalance, 0.75);
  EXPECT_DOUBLE_EQ(r.seed_bal, 0.25);  // 1/N
  EXPECT_DOUBLE_EQ(r.cov, std::sqrt(3.0));
  EXPECT_DOUBLE_EQ(r.min, 0);
  EXPECT_DOUBLE_EQ(r.max, 8);
}

TEST(Balance, HandComputedTwoNodes) {
  const std::vector<double> loads{1, 3};
  EXPECT_DOUBLE_EQ(JainIndex(loads), 16.0 / 20);
  EXPECT_DOUBLE_EQ(CoefficientOfVariation(loads), 0.5);
  EXPECT_DOUBLE_EQ(ImbalanceFactor(loads), 0.5);
  EXPECT_DOUBLE_EQ(RelativeImbalance(loads), 1.0 / 3);
  EXPECT_DOUBLE_EQ(SeedBal(loads), 10.0 / 32);
}

TEST(Balance, EmptyAndAllZeroAreBalancedWithUndefinedSeedBal) {
  for (const std::vector<double>& loads : {std::vector<double>{}, std::vector<double>{0, 0, 0}}) {
    const BalanceReport r = Evaluate(loads);
    EXPECT_DOUBLE_EQ(r.jain, 1);
    EXPECT_DOUBLE_EQ(r.cov, 0);
    EXPECT_DOUBLE_EQ(r.imbalance_factor, 0);
    EXPECT_DOUBLE_EQ(r.relative_imbalance, 0);
    EXPECT_TRUE(std::isnan(r.seed_bal));
  }
}

TEST(Balance, ValidateRejectsNegativeAndNonFinite) {
  EXPECT_TRUE(ValidateLoads(std::vector<double>{0, 1.5}).ok());
  EXPECT_FALSE(ValidateLoads(std::vector<double>{1, -0.1}).ok());
  EXPECT_FALSE(ValidateLoads(std::vector<double>{NAN}).ok());
  EXPECT_FALSE(ValidateLoads(std::vector<double>{INFINITY}).ok());
}

TEST(Balance, MetricRowsInOrder) {
  const auto rows = MetricRows(Evaluate(kSeedExampleLoads));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].first, "jain");
  EXPECT_EQ(rows[4].first, "seed_bal");
  EXPECT_NEAR(rows[0].second, 0.857, 5e-4);
}

}  // namespace
}  // namespace muster::model
