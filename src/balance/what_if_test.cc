// What-if application of moves: resources follow the moved tasks, times follow speeds and costs,
// and inconsistent moves are refused without touching the input.
#include "balance/what_if.h"

#include <gtest/gtest.h>

#include "balance/load.h"
#include "balance/test_util.h"

namespace muster::balance {
namespace {

using testing_util::AddRunning;
using testing_util::Node;
using testing_util::Pending;
using testing_util::Req;

constexpr TimeMs kSec = 1000;

sched::ClusterSnapshot Base() {
  sched::ClusterSnapshot s;
  s.now_ms = 10 * kSec;
  s.nodes = {Node("slow", 2, 1.0), Node("fast", 2, 2.0)};
  AddRunning(s, 1, 0, 0, {1}, s.now_ms + 3600 * kSec);
  return s;
}

Move Migrate(int from, int to, double cost_s) {
  Move m;
  m.job = 1;
  m.tasks = {0};
  m.from_node = from;
  m.to_node = to;
  m.kind = MoveKind::kMigrate;
  m.cost_s = cost_s;
  return m;
}

TEST(WhatIf, MigrationMovesResourcesAndRescalesRemainingTime) {
  auto s = Base();
  auto after = ApplyMoves(s, {Migrate(0, 1, 60)});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->running.size(), 1u);
  const auto& t = after->running[0];
  EXPECT_EQ(t.node, 1);
  EXPECT_EQ(t.gpus, std::vector<int>{0});
  EXPECT_EQ(t.started_ms, s.now_ms);
  EXPECT_EQ(t.predicted_finish_ms, s.now_ms + (60 + 1800) * kSec);
  EXPECT_EQ(after->nodes[0].free.FreeGpuCount(), 2);
  EXPECT_EQ(after->nodes[1].free.FreeGpuCount(), 1);
  EXPECT_EQ(after->nodes[0].free.milli_cpus, s.nodes[0].spec.milli_cpus);
  // The input is untouched.
  EXPECT_EQ(s.running[0].node, 0);
  EXPECT_EQ(s.nodes[0].free.FreeGpuCount(), 1);
}

TEST(WhatIf, HonoursRequestedGpusWhenFree) {
  auto s = Base();
  Move m = Migrate(0, 1, 0);
  m.to_gpus = {{1}};
  auto after = ApplyMoves(s, {m});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->running[0].gpus, std::vector<int>{1});
}

TEST(WhatIf, StartsStolenTasksNow) {
  auto s = Base();
  s.queue = {Pending(2, 3, Req(1), 600 * kSec, false, true)};
  Move m;
  m.job = 2;
  m.tasks = {1, 2};
  m.to_node = 1;
  m.kind = MoveKind::kSteal;
  auto after = ApplyMoves(s, {m});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->queue.size(), 1u);
  EXPECT_EQ(after->queue[0].pending_tasks, std::vector<int>{0});
  EXPECT_EQ(after->queue[0].running_tasks, 2);
  ASSERT_EQ(after->running.size(), 3u);
  EXPECT_EQ(after->running[1].predicted_finish_ms, s.now_ms + 300 * kSec);  // speed 2
  EXPECT_EQ(after->nodes[1].free.FreeGpuCount(), 0);
}

TEST(WhatIf, MetricsBeforeAndAfter) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("a", 2), Node("b", 2)};
  AddRunning(s, 1, 0, 0, {0}, 7200 * kSec);
  AddRunning(s, 2, 0, 0, {1}, 7200 * kSec);
  auto before = Evaluate(s);
  Move m;
  m.job = 2;
  m.tasks = {0};
  m.from_node = 0;
  m.to_node = 1;
  auto after_s = ApplyMoves(s, {m});
  ASSERT_TRUE(after_s.ok());
  auto after = Evaluate(*after_s);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_DOUBLE_EQ(before->nodes.imbalance_factor, 1.0);
  EXPECT_DOUBLE_EQ(after->nodes.imbalance_factor, 0.0);
  EXPECT_DOUBLE_EQ(after->nodes.jain, 1.0);
}

TEST(WhatIf, RefusesInconsistentMoves) {
  auto s = Base();
  EXPECT_EQ(ApplyMoves(s, {Migrate(1, 0, 0)}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ApplyMoves(s, {Migrate(0, 5, 0)}).status().code(), StatusCode::kInvalidArgument);
  AddRunning(s, 7, 0, 1, {0, 1}, s.now_ms + 10 * kSec);  // fast node full
  EXPECT_EQ(ApplyMoves(s, {Migrate(0, 1, 0)}).status().code(), StatusCode::kFailedPrecondition);
  s.nodes[1].state = NodeState::kDraining;
  EXPECT_EQ(ApplyMoves(s, {Migrate(0, 1, 0)}).status().code(), StatusCode::kFailedPrecondition);
  Move steal;
  steal.job = 42;
  steal.tasks = {0};
  steal.to_node = 0;
  steal.kind = MoveKind::kSteal;
  EXPECT_EQ(ApplyMoves(s, {steal}).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace muster::balance
