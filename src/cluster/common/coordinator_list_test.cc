#include "cluster/common/coordinator_list.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

TEST(CoordinatorList, ParsesAddressesInOrderWithoutRepeats) {
  auto one = ParseCoordinatorList("127.0.0.1:7070");
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(*one, std::vector<std::string>{"127.0.0.1:7070"});
  auto two = ParseCoordinatorList(" a.example:7070 , [::1]:7071,a.example:7070");
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_EQ(*two, (std::vector<std::string>{"a.example:7070", "[::1]:7071"}));
}

TEST(CoordinatorList, RefusesEmptyEntriesAndAddressesWithoutAPortInOneLine) {
  for (std::string bad : {"a", "a:", "a:0", "a:70000", "a:7x", "::1:7070", "[::1:7070", ":7070"}) {
    bad = "b:7070," + bad;
    auto r = ParseCoordinatorList(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "' was taken";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  for (const char* bad : {"", "  ", "a:7070,", ",a:7070", "a:7070,,b:7070"})
    EXPECT_EQ(ParseCoordinatorList(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  EXPECT_NE(ParseCoordinatorList("a:7070,b").status().message().find("'b'"), std::string::npos);
  // One address is any gRPC target, as before there were lists.
  for (const char* one : {"dns:///coord.example:7070", "unix:/run/muster.sock", "h:7070"})
    EXPECT_EQ(*ParseCoordinatorList(one), std::vector<std::string>{one});
}

TEST(CoordinatorList, NextGoesRoundRobin) {
  EXPECT_EQ(NextCoordinator(0, 3), 1u);
  EXPECT_EQ(NextCoordinator(2, 3), 0u);
  EXPECT_EQ(NextCoordinator(0, 1), 0u);
}

}  // namespace
}  // namespace muster::cluster
