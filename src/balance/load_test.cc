// Load definition and metrics: predicted busy fraction over the horizon, blending with measured
// utilization, degraded nodes, which nodes count, input validation.
#include "balance/load.h"

#include <gtest/gtest.h>

#include "balance/move.h"
#include "balance/test_util.h"

namespace muster::balance {
namespace {

using testing_util::AddRunning;
using testing_util::Node;

constexpr TimeMs kHour = 3'600'000;

sched::ClusterSnapshot TwoNodes() {
  sched::ClusterSnapshot s;
  s.now_ms = 1000;
  s.nodes = {Node("a", 2), Node("b", 2)};
  return s;
}

TEST(Load, PredictedLoadIsBusyFractionOverHorizon) {
  auto s = TwoNodes();
  AddRunning(s, 1, 0, 0, {0}, s.now_ms + kHour / 2);  // 1 of 2 GPUs busy for half the horizon
  auto ev = Evaluate(s);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  ASSERT_EQ(ev->node_loads.size(), 2u);
  EXPECT_DOUBLE_EQ(ev->node_loads[0].predicted, 0.25);
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 0.25);
  EXPECT_DOUBLE_EQ(ev->node_loads[1].load, 0.0);
  EXPECT_DOUBLE_EQ(ev->nodes.imbalance_factor, 1.0);  // max 0.25 / mean 0.125 - 1
  EXPECT_DOUBLE_EQ(ev->nodes.jain, 0.5);
  EXPECT_DOUBLE_EQ(ev->nodes.relative_imbalance, 0.5);
  EXPECT_DOUBLE_EQ(ev->nodes.cov, 1.0);
  ASSERT_EQ(ev->gpu_loads.size(), 4u);
  EXPECT_DOUBLE_EQ(ev->gpu_loads[0].load, 0.5);
  EXPECT_DOUBLE_EQ(ev->gpu_loads[1].load, 0.0);
  EXPECT_DOUBLE_EQ(ev->gpus.imbalance_factor, 3.0);  // 0.5 / 0.125 - 1
}

TEST(Load, WorkBeyondTheHorizonCountsAsFull) {
  auto s = TwoNodes();
  AddRunning(s, 1, 0, 0, {0, 1}, s.now_ms + 10 * kHour);
  AddRunning(s, 2, 0, 1, {0, 1}, s.now_ms + 2 * kHour);
  auto ev = Evaluate(s);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 1.0);
  EXPECT_DOUBLE_EQ(ev->node_loads[1].load, 1.0);
  EXPECT_DOUBLE_EQ(ev->nodes.imbalance_factor, 0.0);
  LoadOptions longer;
  longer.horizon_ms = 4 * kHour;
  ev = Evaluate(s, {}, longer);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 1.0);
  EXPECT_DOUBLE_EQ(ev->node_loads[1].load, 0.5);
}

TEST(Load, MeasuredUtilizationIsBlendedWhenPresent) {
  auto s = TwoNodes();
  AddRunning(s, 1, 0, 0, {0, 1}, s.now_ms + kHour);
  MeasuredUsage u;
  u.nodes.resize(2);
  u.nodes[0].gpu_utilization = {0.6, 0.2};  // node measure = mean of GPUs = 0.4
  u.nodes[1].utilization = 0.3;             // no GPU readings: node-level reading
  LoadOptions o;
  o.measured_weight = 0.25;
  auto ev = Evaluate(s, u, o);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_DOUBLE_EQ(ev->node_loads[0].measured, 0.4);
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 0.75 * 1.0 + 0.25 * 0.4);
  EXPECT_DOUBLE_EQ(ev->node_loads[1].load, 0.25 * 0.3);
  EXPECT_DOUBLE_EQ(ev->gpu_loads[1].load, 0.75 * 1.0 + 0.25 * 0.2);
  EXPECT_DOUBLE_EQ(ev->gpu_loads[2].measured, -1);
  EXPECT_DOUBLE_EQ(ev->gpu_loads[2].load, 0.0);  // unknown reading: predicted only
}

TEST(Load, DegradedNodeStretchesRemainingTime) {
  auto s = TwoNodes();
  AddRunning(s, 1, 0, 0, {0, 1}, s.now_ms + kHour / 4);
  MeasuredUsage u;
  u.nodes.resize(1);
  u.nodes[0].speed_factor = 0.5;
  auto ev = Evaluate(s, u);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 0.5);
}

TEST(Load, OnlyReadyNodesCount) {
  auto s = TwoNodes();
  s.nodes.push_back(Node("c", 2));
  s.nodes[2].state = NodeState::kLost;
  AddRunning(s, 1, 0, 0, {0, 1}, s.now_ms + kHour);
  auto ev = Evaluate(s);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->node_loads.size(), 2u);
  EXPECT_EQ(ev->gpu_loads.size(), 4u);
  EXPECT_EQ(ev->nodes.n, 2);
}

TEST(Load, CpuOnlyNodeUsesCpuShare) {
  sched::ClusterSnapshot s;
  s.nodes = {Node("cpu", 0, 1.0, 8000)};
  AddRunning(s, 1, 0, 0, {}, kHour, false, 2000);
  auto ev = Evaluate(s);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->node_loads[0].load, 0.25);
}

TEST(Load, EmptyClusterIsBalanced) {
  sched::ClusterSnapshot s;
  auto ev = Evaluate(s);
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->nodes.jain, 1.0);
  EXPECT_DOUBLE_EQ(ev->nodes.imbalance_factor, 0.0);
}

TEST(Load, RejectsBadUsageAndOptions) {
  auto s = TwoNodes();
  MeasuredUsage u;
  u.nodes.resize(1);
  u.nodes[0].utilization = 1.5;
  EXPECT_EQ(Evaluate(s, u).status().code(), StatusCode::kInvalidArgument);
  u.nodes[0].utilization = -1;
  u.nodes[0].speed_factor = 0;
  EXPECT_EQ(Evaluate(s, u).status().code(), StatusCode::kInvalidArgument);
  u.nodes[0].speed_factor = 1;
  u.nodes[0].gpu_utilization = {0.1, 0.2, 0.3};
  EXPECT_EQ(Evaluate(s, u).status().code(), StatusCode::kInvalidArgument);
  u.nodes.resize(3);
  EXPECT_EQ(Evaluate(s, u).status().code(), StatusCode::kInvalidArgument);
  LoadOptions o;
  o.horizon_ms = 0;
  EXPECT_EQ(Evaluate(s, {}, o).status().code(), StatusCode::kInvalidArgument);
}

TEST(MoveCost, AlphaBetaEstimateWritesAndReadsTheCheckpoint) {
  auto e = EstimateMoveCost(2e9, 0.5, 1e9, 10);  // 2 GB at 1 GB/s, 0.5 s latency
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_DOUBLE_EQ(e->checkpoint_s, 2.5);
  EXPECT_DOUBLE_EQ(e->restart_s, 12.5);
  EXPECT_DOUBLE_EQ(e->total_s(), 15.0);
  EXPECT_FALSE(EstimateMoveCost(1e9, 0, 0, 1).ok());
  EXPECT_FALSE(EstimateMoveCost(-1, 0, 1e9, 1).ok());
}

}  // namespace
}  // namespace muster::balance
