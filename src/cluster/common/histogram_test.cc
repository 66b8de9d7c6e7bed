#include "cluster/common/histogram.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

TEST(Histogram, BucketsAreCumulativeWithSumAndCount) {
  Histogram h({0.001, 0.01, 0.1});
  h.Observe(0.0005);
  h.Observe(0.001);  // on a bound: counted in it (le)
  h.Observe(0.05);
  h.Observe(3);
  const std::string t = h.Text("x_seconds", "help");
  EXPECT_NE(t.find("# TYPE x_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("x_seconds_bucket{le=\"0.001\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{le=\"0.1\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_sum 3.0515\n"), std::string::npos) << t;
  EXPECT_NE(t.find("x_seconds_count 4\n"), std::string::npos) << t;
}

}  // namespace
}  // namespace muster::cluster
