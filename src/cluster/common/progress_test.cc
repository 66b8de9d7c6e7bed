#include "cluster/common/progress.h"

#include <gtest/gtest.h>

namespace muster {
namespace {

TEST(Progress, ParsesWellFormedLine) {
  auto p = ParseProgressLine("MUSTER_PROGRESS done=120 total=940 epoch=1 loss=0.4312\n");
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(p->done, 120);
  EXPECT_DOUBLE_EQ(p->total, 940);
  EXPECT_EQ(p->fields.at("epoch"), "1");
  EXPECT_EQ(p->fields.at("loss"), "0.4312");
}

TEST(Progress, RejectsOtherLines) {
  EXPECT_FALSE(ParseProgressLine("epoch 1 loss 0.4").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS total=10").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=x total=10").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=1 total=10 bad-key=1").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=-1 total=10").has_value());
  // Found by fuzz/progress_fuzz: numbers that are not finite.
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=1.5e3 total=2e3555555555").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=nan total=10").has_value());
  EXPECT_FALSE(ParseProgressLine("MUSTER_PROGRESS done=1 total=inf").has_value());
}

TEST(Progress, FormatRoundTrips) {
  ProgressLine p{.done = 3, .total = 7, .fields = {{"loss", "0.5"}}};
  auto q = ParseProgressLine(FormatProgressLine(p));
  ASSERT_TRUE(q.has_value());
  EXPECT_DOUBLE_EQ(q->done, 3);
  EXPECT_EQ(q->fields.at("loss"), "0.5");
}

}  // namespace
}  // namespace muster
