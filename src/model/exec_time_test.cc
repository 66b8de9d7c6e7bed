#include "model/exec_time.h"

#include <gtest/gtest.h>

namespace muster::model {
namespace {

TEST(SeedExecTime, WorkedExampleAsWritten) {
  auto r = SeedExecTime(SeedWorkedExample());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->total_work, 7500);
  EXPECT_DOUBLE_EQ(r->compute_ms, 234.375);
  const std::vector<double> want{31.25, 62.5, 46.875, 37.5, 56.25};
  ASSERT_EQ(r->item_terms.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(r->item_terms[i], want[i]) << i;
  EXPECT_DOUBLE_EQ(r->latency_term_ms, 234.375);
  EXPECT_DOUBLE_EQ(r->total_ms, 468.75);
}

TEST(SeedExecTime, SeedPrintedNumbersAreNotTheFormula) {
  // The seed printed C_i/40 and a total that is not the sum of its own terms.
  SeedPrintedExample printed;
  auto r = SeedExecTime(SeedWorkedExample());
  ASSERT_TRUE(r.ok());
  double sum = 0;
  for (size_t i = 0; i < printed.item_terms_ms.size(); ++i) {
    EXPECT_NE(printed.item_terms_ms[i], r->item_terms[i]);
    EXPECT_DOUBLE_EQ(printed.item_terms_ms[i], SeedWorkedExample().work[i] / 40);
    sum += printed.item_terms_ms[i];
  }
  EXPECT_DOUBLE_EQ(sum + printed.latency_term_ms, 268.75);
  EXPECT_NE(printed.total_ms, r->total_ms);
}

TEST(SeedExecTime, LatencyScalesSecondTermOnly) {
  auto a = SeedExecTime({.work = {100, 300}, .workers = 4, .latency_ms = 0});
  auto b = SeedExecTime({.work = {100, 300}, .workers = 4, .latency_ms = 2});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_DOUBLE_EQ(a->total_ms, 100);
  EXPECT_DOUBLE_EQ(b->latency_term_ms, 200);
  EXPECT_DOUBLE_EQ(b->total_ms, 300);
}

TEST(SeedExecTime, RejectsBadInput) {
  EXPECT_FALSE(SeedExecTime({.work = {1}, .workers = 0, .latency_ms = 1}).ok());
  EXPECT_FALSE(SeedExecTime({.work = {-1}, .workers = 2, .latency_ms = 1}).ok());
  EXPECT_FALSE(SeedExecTime({.work = {1}, .workers = 2, .latency_ms = -1}).ok());
}

TEST(SoundExecTime, ComputePlusAlphaBetaTransfers) {
  // 1e12 units on 4 workers at 1e11 units/s = 2.5 s; two transfers of 1 GB at 10 GB/s, alpha 1 ms.
  auto r = SoundExecTime({.work = 1e12,
                          .workers = 4,
                          .rate_per_worker = 1e11,
                          .alpha_s = 1e-3,
                          .bandwidth_bytes_per_s = 1e10,
                          .transfer_bytes = {1e9, 1e9}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->compute_s, 2.5);
  ASSERT_EQ(r->transfer_terms_s.size(), 2u);
  EXPECT_NEAR(r->transfer_terms_s[0], 0.101, 1e-12);
  EXPECT_NEAR(r->communication_s, 0.202, 1e-12);
  EXPECT_NEAR(r->total_s, 2.702, 1e-12);
}

TEST(SoundExecTime, RejectsBadInput) {
  EXPECT_FALSE(
      SoundExecTime({.work = 1, .workers = 1, .rate_per_worker = 0, .transfer_bytes = {}}).ok());
  EXPECT_FALSE(SoundExecTime({.work = 1,
                              .workers = 1,
                              .rate_per_worker = 1,
                              .bandwidth_bytes_per_s = 0,
                              .transfer_bytes = {5}})
                   .ok());
  EXPECT_TRUE(
      SoundExecTime({.work = 1, .workers = 1, .rate_per_worker = 1, .transfer_bytes = {}}).ok());
}

}  // namespace
}  // namespace muster::model
