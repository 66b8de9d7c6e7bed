// Tests of the data order: one permutation per (seed, epoch), disjoint shards that together form
// the single-process batch, and the rank environment parser.
#include "train/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "train/dist_env.h"

namespace muster::train {
namespace {

TEST(Sampler, PermutationIsDeterministicAndComplete) {
  auto a = EpochPermutation(1000, 7, 0);
  EXPECT_EQ(a, EpochPermutation(1000, 7, 0));
  EXPECT_NE(a, EpochPermutation(1000, 7, 1));
  EXPECT_NE(a, EpochPermutation(1000, 8, 0));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += a[i] == i;
  EXPECT_LT(fixed, 10);  // a shuffle, not the identity
}

TEST(Sampler, ShardsAreDisjointAndConcatenateToTheGlobalBatch) {
  const int64_t n = 103, batch = 5;
  const int world = 3;
  auto order = EpochPermutation(n, 1, 2);
  ASSERT_EQ(StepsPerEpoch(n, world, batch), 6);
  std::set<int64_t> seen;
  for (int64_t step = 0; step < 6; ++step) {
    std::vector<int64_t> joined;
    for (int r = 0; r < world; ++r) {
      auto s = ShardForStep(order, step, r, world, batch);
      ASSERT_EQ(s.size(), 5u);
      for (int64_t i : s) EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " used twice";
      joined.insert(joined.end(), s.begin(), s.end());
    }
    EXPECT_EQ(joined, ShardForStep(order, step, 0, 1, batch * world));
  }
  EXPECT_EQ(seen.size(), 90u);  // 13 samples dropped (drop-last)
}

std::function<std::optional<std::string>(const std::string&)> Env(
    std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(DistEnv, AloneWhenUnset) {
  auto e = ParseDistEnv(Env({}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->world_size, 1);
  EXPECT_FALSE(e->distributed());
}

TEST(DistEnv, ReadsTorchrunVariables) {
  auto e = ParseDistEnv(Env({{"RANK", "3"},
                             {"WORLD_SIZE", "4"},
                             {"LOCAL_RANK", "1"},
                             {"LOCAL_WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "10.0.0.5"},
                             {"MASTER_PORT", "29501"}}));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->rank, 3);
  EXPECT_EQ(e->world_size, 4);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->local_world_size, 2);
  EXPECT_EQ(e->master_addr, "10.0.0.5");
  EXPECT_EQ(e->master_port, 29501);
}

TEST(DistEnv, RejectsInconsistentValues) {
  EXPECT_FALSE(ParseDistEnv(Env({{"RANK", "0"}})).ok());
  EXPECT_FALSE(ParseDistEnv(Env({{"WORLD_SIZE", "2"}})).ok());
  EXPECT_FALSE(ParseDistEnv(Env({{"WORLD_SIZE", "2"}, {"RANK", "2"}})).ok());
  EXPECT_FALSE(ParseDistEnv(Env({{"WORLD_SIZE", "x"}, {"RANK", "0"}})).ok());
  auto bad_port = ParseDistEnv(Env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}));
  ASSERT_FALSE(bad_port.ok());
  EXPECT_NE(bad_port.status().message().find("MASTER_PORT=70000"), std::string::npos);
}

}  // namespace
}  // namespace muster::train
