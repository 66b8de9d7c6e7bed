#include "core/index_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

namespace muster {
namespace {

TEST(IndexSet, AnArraysPendingTasksAreOneRun) {
  IndexSet s;
  for (int i = 0; i < 1000000; ++i) s.insert(i);
  EXPECT_EQ(s.size(), 1000000u);
  EXPECT_EQ(s.runs(), 1u);
  // Tasks start from the front: still one run.
  for (int i = 0; i < 500; ++i) EXPECT_TRUE(s.erase(i));
  EXPECT_EQ(s.runs(), 1u);
  EXPECT_EQ(*s.begin(), 500);
  // A task requeued in the middle of the started ones: a run of its own.
  EXPECT_TRUE(s.insert(100));
  EXPECT_EQ(s.runs(), 2u);
  EXPECT_FALSE(s.insert(100));
  EXPECT_TRUE(s.contains(100));
  EXPECT_FALSE(s.contains(99));
  EXPECT_TRUE(s.erase(100));
  EXPECT_FALSE(s.erase(100));
  EXPECT_EQ(s.runs(), 1u);
}

TEST(IndexSet, BehavesAsAStdSetUnderRandomChanges) {
  std::mt19937 rng(7);
  IndexSet s;
  std::set<int> ref;
  for (int step = 0; step < 20000; ++step) {
    const int x = static_cast<int>(rng() % 300);
    if (rng() % 2) {
      EXPECT_EQ(s.insert(x), ref.insert(x).second);
    } else {
      EXPECT_EQ(s.erase(x), ref.erase(x) == 1);
    }
    ASSERT_EQ(s.size(), ref.size());
    if (step % 97 == 0) {
      ASSERT_EQ(std::vector<int>(s.begin(), s.end()), std::vector<int>(ref.begin(), ref.end()));
      for (int y = 0; y < 300; ++y) ASSERT_EQ(s.contains(y), ref.count(y) == 1) << y;
    }
  }
  // Equal sets compare equal, whatever the order of changes that made them.
  IndexSet a, b;
  for (int x : {5, 1, 3, 2, 4}) a.insert(x);
  for (int x : {1, 2, 3, 4, 5, 9}) b.insert(x);
  b.erase(9);
  EXPECT_TRUE(a == b);
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.begin(), b.end());
}

}  // namespace
}  // namespace muster
