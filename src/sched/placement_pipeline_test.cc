#include "sched/placement_pipeline.h"

#include <gtest/gtest.h>

#include "sched/placement_test_util.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

PlacementPipeline Pipeline(std::vector<std::string> scorers, int limit = 16) {
  PipelineOptions o;
  o.scorers = std::move(scorers);
  o.candidate_limit = limit;
  auto p = PlacementPipeline::Build(PluginRegistry::Default(), o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

// Three nodes with 1, 3 and 2 free GPUs of 4.
ClusterSnapshot ThreeNodes() {
  ClusterSnapshot s;
  s.nodes = {Node("a", 16000, 64000, 4), Node("b", 16000, 64000, 4),
             Node("c", 16000, 64000, 4, "virtual", 16384, 2.0)};
  s.nodes[0].free.gpu_free = {false, true, false, false};
  s.nodes[1].free.gpu_free = {true, true, false, true};
  s.nodes[2].free.gpu_free = {true, false, true, false};
  return s;
}

PlacementAsk Ask(const PendingJob& job, ClusterState& state, int ranks = 1) {
  PlacementAsk a;
  a.job = &job;
  a.shape = state.ShapeOf(job.spec->resources);
  a.ranks = ranks;
  a.duration_ms = job.predicted_duration_ms;
  return a;
}

std::vector<int> FewestFirst(const ClusterState& st) {
  std::vector<int> out;
  st.ForEachCandidate(0, false, [&](int n) {
    out.push_back(n);
    return true;
  });
  return out;
}

TEST(ClusterState, PassJournalRestoresTouchedNodesAndRefreshRereadsOne) {
  ClusterSnapshot s = ThreeNodes();
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  const std::vector<int> order = FewestFirst(*st);
  TaskShape one = st->ShapeOf(Req(1000, 100, 1));
  st->BeginPass();
  Grant g = st->Take(1, one, 500);
  st->Take(1, one, 500);
  st->Take(2, one, 500);
  st->Give(g);
  EXPECT_EQ(st->slot(1).free_gpus, 2);
  EXPECT_EQ(st->slot(2).free_gpus, 1);
  st->EndPass();
  EXPECT_EQ(st->slot(1).free_gpus, 3);
  EXPECT_EQ(st->slot(1).milli_cpus, 16000);
  EXPECT_EQ(st->slot(2).free_gpus, 2);
  EXPECT_EQ(FewestFirst(*st), order);  // the free-GPU index is restored too
  // Outside a pass, changes stay; Refresh re-reads a node from the snapshot.
  st->Take(0, one, 500);
  EXPECT_EQ(st->slot(0).free_gpus, 0);
  s.nodes[2].free.gpu_free = {true, true, true, true};
  st->Rebind(s);
  st->Refresh(0);
  st->Refresh(2);
  EXPECT_EQ(st->slot(0).free_gpus, 1);
  EXPECT_EQ(st->slot(2).free_gpus, 4);
  EXPECT_EQ(FewestFirst(*st), (std::vector<int>{0, 1, 2}));
}

TEST(ClusterState, IndexVisitsNodesByFreeGpusThenIndex) {
  ClusterSnapshot s = ThreeNodes();
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  std::vector<int> fewest;
  st->ForEachCandidate(1, false, [&](int n) {
    fewest.push_back(n);
    return true;
  });
  EXPECT_EQ(fewest, (std::vector<int>{0, 2, 1}));
  std::vector<int> most;
  st->ForEachCandidate(2, true, [&](int n) {
    most.push_back(n);
    return true;
  });
  EXPECT_EQ(most, (std::vector<int>{1, 2}));
}

TEST(ClusterState, TakeAndGiveRoundTripAndReindex) {
  ClusterSnapshot s = ThreeNodes();
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  TaskShape shape = st->ShapeOf(Req(2000, 1000, 2));
  ASSERT_EQ(st->TasksThatFit(1, shape, 0), 1);
  Grant g = st->Take(1, shape, 0);
  EXPECT_EQ(g.gpus, 0b11u);  // lowest free GPUs first
  EXPECT_EQ(st->slot(1).free_gpus, 1);
  EXPECT_EQ(st->slot(1).milli_cpus, 14000);
  std::vector<int> three;
  st->ForEachCandidate(3, false, [&](int n) {
    three.push_back(n);
    return true;
  });
  EXPECT_TRUE(three.empty());
  st->Give(g);
  EXPECT_EQ(st->slot(1).free_gpus, 3);
  EXPECT_EQ(st->slot(1).milli_cpus, 16000);
}

TEST(ClusterState, GuardKeepsLongTasksOffReservedGpusAndSpare) {
  ClusterSnapshot s;
  s.nodes = {Node("a", 8000, 64000, 2)};
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  ReservationGuard guard;
  guard.at = 100;
  guard.nodes.resize(1);
  guard.nodes[0] = {.reserved = true, .gpus = 0b01, .spare_cpu = 2000, .spare_mem = 64000};
  st->SetGuard(guard);
  TaskShape one = st->ShapeOf(Req(1000, 100, 1));
  EXPECT_EQ(st->TasksThatFit(0, one, 100), 2);  // done by the reservation: anything free
  EXPECT_EQ(st->TasksThatFit(0, one, 101), 1);  // overlaps it: GPU 1 only
  Grant g = st->Take(0, one, 500);
  EXPECT_EQ(g.gpus, 0b10u);
  EXPECT_TRUE(g.guarded);
  EXPECT_EQ(st->TasksThatFit(0, st->ShapeOf(Req(1500, 100, 0)), 500), 0);  // spare 1000 left
  EXPECT_EQ(st->TasksThatFit(0, st->ShapeOf(Req(1000, 100, 0)), 500), 1);
  st->Give(g);
  EXPECT_EQ(st->TasksThatFit(0, st->ShapeOf(Req(2000, 100, 0)), 500), 1);
}

TEST(ClusterState, RejectsMoreThan64GpusPerNode) {
  ClusterSnapshot s;
  s.nodes = {Node("big", 8000, 64000, 65)};
  EXPECT_EQ(ClusterState::FromSnapshot(s).status().code(), StatusCode::kInvalidArgument);
}

TEST(PlacementPipeline, BinpackSpreadAndMctDisagree) {
  ClusterSnapshot s = ThreeNodes();
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  PendingJob job = Job(1, 1, Req(1000, 1000, 1), 60000);
  PlacementAsk a = Ask(job, *st);
  EXPECT_EQ(Pipeline({"binpack"}).SelectNode(a, *st, -1), 0);
  EXPECT_EQ(Pipeline({"spread"}).SelectNode(a, *st, -1), 1);
  EXPECT_EQ(Pipeline({"mct"}).SelectNode(a, *st, -1), 2);  // speed 2.0
  EXPECT_EQ(a.FinishOn(*st, 2), 30000);
  EXPECT_EQ(Pipeline({"binpack"}).SelectNode(a, *st, 1), 1);        // pinned
  EXPECT_EQ(Pipeline({"binpack"}).SelectNode(a, *st, -1, {0}), 2);  // excluded
}

TEST(PlacementPipeline, CandidateLimitStopsTheSearch) {
  // Same free GPUs on both; y is fuller on CPU, so an exhaustive bin-pack picks y, while a
  // limit of one takes the first admitted node in index order.
  ClusterSnapshot s;
  s.nodes = {Node("x", 16000, 64000, 4), Node("y", 16000, 64000, 4, "virtual", 16384, 2.0)};
  s.nodes[1].free.milli_cpus = 4000;
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  PendingJob job = Job(1, 1, Req(1000, 1000, 1), 60000);
  PlacementAsk a = Ask(job, *st);
  EXPECT_EQ(Pipeline({"binpack"}, 0).SelectNode(a, *st, -1), 1);
  EXPECT_EQ(Pipeline({"binpack"}, 1).SelectNode(a, *st, -1), 0);
  // mct needs every node, so the limit does not apply: y is faster.
  EXPECT_EQ(Pipeline({"mct"}, 1).SelectNode(a, *st, -1), 1);
}

TEST(PlacementPipeline, UnknownPluginIsAnError) {
  PipelineOptions o;
  o.scorers = {"random"};
  auto p = PlacementPipeline::Build(PluginRegistry::Default(), o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("binpack"), std::string::npos);
}

TEST(PlacementPipeline, GangPrefersFewestNodesAndRollsBack) {
  ClusterSnapshot s;
  s.nodes = {Node("a", 16000, 64000, 4), Node("b", 16000, 64000, 8), Node("c", 16000, 64000, 4)};
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  PendingJob job = Job(1, 8, Req(1000, 1000, 1), 100, true);
  PlacementAsk a = Ask(job, *st);
  std::vector<GangGroup> groups;
  ASSERT_TRUE(Pipeline({"binpack"}).PlaceGang(a, 8, 0, -1, *st, &groups));
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].node, 1);
  // 12 ranks: 8 free GPUs remain (a and c), so nothing may be taken.
  PendingJob big = Job(2, 12, Req(1000, 1000, 1), 100, true);
  PlacementAsk b = Ask(big, *st);
  const NodeSlot before = st->slot(0);
  EXPECT_FALSE(Pipeline({"binpack"}).PlaceGang(b, 12, 0, -1, *st, &groups));
  EXPECT_EQ(st->slot(0).gpu_free, before.gpu_free);
  EXPECT_EQ(st->slot(0).milli_cpus, before.milli_cpus);
  EXPECT_EQ(st->slot(2).free_gpus, 4);
}

TEST(PlacementPipeline, GangRanksPerNodeUsesDistinctNodes) {
  ClusterSnapshot s;
  s.nodes = {Node("a", 16000, 64000, 8), Node("b", 16000, 64000, 8)};
  auto st = ClusterState::FromSnapshot(s);
  ASSERT_TRUE(st.ok());
  PendingJob job = Job(1, 4, Req(1000, 1000, 1), 100, true);
  PlacementAsk a = Ask(job, *st);
  std::vector<GangGroup> groups;
  ASSERT_TRUE(Pipeline({"binpack"}).PlaceGang(a, 4, 2, -1, *st, &groups));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_NE(groups[0].node, groups[1].node);
  EXPECT_EQ(groups[0].ranks.size(), 2u);
  EXPECT_EQ(groups[1].ranks.size(), 2u);
  // Local ranks get ascending GPUs.
  EXPECT_LT(groups[0].ranks[0].gpus, groups[0].ranks[1].gpus);
}

}  // namespace
}  // namespace muster::sched
