#include "cluster/coordinator/refusal_sampler.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

TEST(RefusalSampler, OneRowPerHostPerIntervalCountingTheRest) {
  RefusalSampler s(1000);
  int64_t left = -1;
  EXPECT_TRUE(s.Admit("ipv4:10.0.0.2:5000", 0, &left));
  EXPECT_EQ(left, 0);
  // The same host from other ports within the second: left out, and counted.
  for (int port = 5001; port < 5100; ++port)
    EXPECT_FALSE(s.Admit("ipv4:10.0.0.2:" + std::to_string(port), 10, &left));
  // Another host is not held back by the first.
  EXPECT_TRUE(s.Admit("ipv4:10.0.0.3:5000", 20, &left));
  EXPECT_EQ(left, 0);
  // After the interval, the next row carries the count.
  EXPECT_TRUE(s.Admit("ipv4:10.0.0.2:6000", 1000, &left));
  EXPECT_EQ(left, 99);
  EXPECT_FALSE(s.Admit("ipv4:10.0.0.2:6001", 1500, &left));
  EXPECT_TRUE(s.Admit("ipv4:10.0.0.2:6002", 2100, &left));
  EXPECT_EQ(left, 1);
}

TEST(RefusalSampler, ItsMemoryIsBounded) {
  RefusalSampler s(1000, 8);
  int64_t left = 0;
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(s.Admit("ipv4:10.0.1." + std::to_string(i) + ":1", 0, &left));
  // Busy hosts were forgotten to make room: a forgotten one is written again at once.
  EXPECT_TRUE(s.Admit("ipv4:10.0.1.0:2", 1, &left));
}

TEST(RefusalSampler, HostOfStripsOnlyThePort) {
  EXPECT_EQ(RefusalSampler::HostOf("ipv4:10.0.0.2:51234"), "ipv4:10.0.0.2");
  EXPECT_EQ(RefusalSampler::HostOf("ipv6:[::1]:51234"), "ipv6:[::1]");
  EXPECT_EQ(RefusalSampler::HostOf("unix:/run/x.sock"), "unix:/run/x.sock");
  EXPECT_EQ(RefusalSampler::HostOf("local"), "local");
}

}  // namespace
}  // namespace muster::cluster
