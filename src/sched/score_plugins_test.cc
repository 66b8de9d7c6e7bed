// Each built-in filter and score plugin on hand-computed values.
#include <gtest/gtest.h>

#include "sched/filter_node_ready.h"
#include "sched/filter_resource_fit.h"
#include "sched/placement_registry.h"
#include "sched/placement_test_util.h"
#include "sched/score_binpack.h"
#include "sched/score_fewest_nodes.h"
#include "sched/score_mct.h"
#include "sched/score_spread.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

struct Fixture {
  ClusterSnapshot s;
  ClusterState state;
  PendingJob job;
  PlacementAsk ask;
};

// n0: 4 GPUs all free, 16 CPU, 64000 MiB, speed 1. n1: 4 GPUs, 1 free, 8 of 16 CPU free, speed 2.
// n2: draining.
std::unique_ptr<Fixture> Make(ResourceRequest r, int gang_remaining = 0) {
  auto f = std::make_unique<Fixture>();
  f->s.nodes = {Node("n0", 16000, 64000, 4), Node("n1", 16000, 64000, 4, "virtual", 16384, 2.0),
                Node("n2", 16000, 64000, 4)};
  f->s.nodes[1].free.gpu_free = {false, false, true, false};
  f->s.nodes[1].free.milli_cpus = 8000;
  f->s.nodes[2].state = NodeState::kDraining;
  f->state = std::move(ClusterState::FromSnapshot(f->s)).value();
  f->job = Job(1, 1, r, 1000);
  f->ask.job = &f->job;
  f->ask.shape = f->state.ShapeOf(r);
  f->ask.duration_ms = 1000;
  f->ask.gang_remaining = gang_remaining;
  return f;
}

TEST(ScorePlugins, NamesMatchTheRegistry) {
  EXPECT_EQ(MakeBinpackScorer()->name(), kBinpackScorer);
  EXPECT_EQ(MakeSpreadScorer()->name(), kSpreadScorer);
  EXPECT_EQ(MakeMctScorer()->name(), kMctScorer);
  EXPECT_EQ(MakeFewestNodesScorer()->name(), kFewestNodesScorer);
  EXPECT_EQ(MakeResourceFitFilter()->name(), kResourceFitFilter);
  EXPECT_EQ(MakeNodeReadyFilter()->name(), kNodeReadyFilter);
  auto r = PluginRegistry::Default();
  EXPECT_EQ(r.FilterNames(), (std::vector<std::string>{"node-ready", "node-user", "resource-fit"}));
  EXPECT_EQ(r.AddScorer("binpack", MakeBinpackScorer).code(), StatusCode::kAlreadyExists);
}

TEST(ScorePlugins, BinpackAndSpreadAreComplements) {
  auto f = Make(Req(2000, 16000, 1));
  auto binpack = MakeBinpackScorer();
  auto spread = MakeSpreadScorer();
  // n0 after: GPUs 1/4 = 25 (x2), CPU 2/16 = 12, memory 16000/64000 = 25 -> (50+12+25)/4 = 21.
  EXPECT_EQ(binpack->Score(f->ask, f->state, 0), 21);
  // n1 after: GPUs 4/4 = 100 (x2), CPU 10/16 = 62, memory 25 -> (200+62+25)/4 = 71.
  EXPECT_EQ(binpack->Score(f->ask, f->state, 1), 71);
  EXPECT_EQ(spread->Score(f->ask, f->state, 0), 79);
  EXPECT_EQ(spread->Score(f->ask, f->state, 1), 29);
  EXPECT_EQ(binpack->order(), CandidateOrder::kFewestFreeGpusFirst);
  EXPECT_EQ(spread->order(), CandidateOrder::kMostFreeGpusFirst);
}

TEST(ScorePlugins, MctPrefersTheFasterNode) {
  auto f = Make(Req(1000, 100, 1));
  auto mct = MakeMctScorer();
  EXPECT_EQ(mct->Score(f->ask, f->state, 1), 100);  // 500 ms at speed 2
  EXPECT_EQ(mct->Score(f->ask, f->state, 0), 50);   // 1000 ms
  EXPECT_EQ(mct->order(), CandidateOrder::kAny);
  f->ask.duration_ms = 0;
  EXPECT_EQ(mct->Score(f->ask, f->state, 0), 100);
}

TEST(ScorePlugins, FewestNodesCountsRanksThatFit) {
  auto f = Make(Req(1000, 100, 1), /*gang_remaining=*/4);
  auto fewest = MakeFewestNodesScorer();
  EXPECT_EQ(fewest->Score(f->ask, f->state, 0), 100);  // all 4 ranks fit
  EXPECT_EQ(fewest->Score(f->ask, f->state, 1), 25);   // 1 of 4
  f->ask.gang_remaining = 0;
  EXPECT_EQ(fewest->Score(f->ask, f->state, 1), 100);  // neutral for single tasks
}

TEST(FilterPlugins, ResourceFitAndNodeReady) {
  auto f = Make(Req(1000, 100, 2));
  auto fit = MakeResourceFitFilter();
  auto ready = MakeNodeReadyFilter();
  EXPECT_TRUE(fit->Admits(f->ask, f->state, 0));
  EXPECT_FALSE(fit->Admits(f->ask, f->state, 1));  // one free GPU
  EXPECT_FALSE(fit->Admits(f->ask, f->state, 2));  // draining
  EXPECT_TRUE(ready->Admits(f->ask, f->state, 0));
  EXPECT_FALSE(ready->Admits(f->ask, f->state, 2));
  f->ask.ranks = 3;  // 6 GPUs on one node
  EXPECT_FALSE(fit->Admits(f->ask, f->state, 0));
  auto g = Make(Req(1000, 100, 1, 0, "H100"));
  EXPECT_FALSE(fit->Admits(g->ask, g->state, 0));  // model does not match "virtual"
}

}  // namespace
}  // namespace muster::sched
