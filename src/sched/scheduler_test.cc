// Behavioural tests of Schedule(): placement, gangs, throttles, pinning, statuses, predictions.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sched/placement_registry.h"
#include "sched/placement_rows.h"
#include "sched/placement_test_util.h"
#include "sched/queue_policy.h"

namespace muster::sched {
namespace {

using testing_util::Gpu;
using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

const Unplaced* FindUnplaced(const Plan& p, JobId id) {
  for (const auto& u : p.unplaced)
    if (u.job == id) return &u;
  return nullptr;
}

std::vector<const Placement*> StartsOf(const Plan& p, JobId id) {
  std::vector<const Placement*> out;
  for (const auto& pl : p.placements)
    if (pl.task.job == id && pl.start_now) out.push_back(&pl);
  return out;
}

TEST(Schedule, PlacesSingleTaskAndPredictsFinish) {
  ClusterSnapshot s;
  s.now_ms = 1000;
  s.nodes = {Node("n0", 8000, 32000, 2)};
  s.queue = {Job(1, 1, Req(1000, 1000, 1), 5000)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto st = StartsOf(*plan, 1);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0]->node, 0);
  EXPECT_EQ(st[0]->node_name, "n0");
  EXPECT_EQ(st[0]->gpus, std::vector<int>{0});
  EXPECT_EQ(st[0]->predicted_start_ms, 1000);
  EXPECT_EQ(st[0]->predicted_finish_ms, 6000);
  EXPECT_EQ(FindUnplaced(*plan, 1), nullptr);
}

TEST(Schedule, NodeOfOneUserTakesOnlyThatUsersTasks) {
  ClusterSnapshot s;
  s.now_ms = 1000;
  // n0, the emptier node binpack would not pick first, is open to all; n1 runs only alice's.
  s.nodes = {Node("n0", 8000, 32000, 2), Node("n1", 8000, 32000, 2)};
  s.nodes[0].free.milli_cpus = 6000;
  s.nodes[1].only_user = "alice";
  s.queue = {testing_util::OwnedBy(Job(1, 4, Req(2000, 1000, 0), 5000), "bob"),
             testing_util::OwnedBy(Job(2, 2, Req(2000, 1000, 0), 5000), "alice")};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  auto bob = StartsOf(*plan, 1);
  ASSERT_EQ(bob.size(), 3u);  // n0's 6 free CPUs; n1 is not bob's
  for (const auto* p : bob) EXPECT_EQ(p->node_name, "n0");
  auto alice = StartsOf(*plan, 2);
  ASSERT_EQ(alice.size(), 2u);  // bob's failure to fit does not stop alice's same shape
  for (const auto* p : alice) EXPECT_EQ(p->node_name, "n1");
  EXPECT_EQ(testing_util::CheckNoOversubscription(s, *plan), "");
}

TEST(Schedule, FifoOrderDecidesWhoGetsTheLastGpu) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 1)};
  auto a = Job(1, 1, Req(1000, 100, 1), 100);
  auto b = Job(2, 1, Req(1000, 100, 1), 100);
  a.submitted_ms = 20;
  b.submitted_ms = 10;
  s.queue = {a, b};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(StartsOf(*plan, 2).size(), 1u);
  EXPECT_TRUE(StartsOf(*plan, 1).empty());
  ASSERT_NE(FindUnplaced(*plan, 1), nullptr);
  EXPECT_EQ(FindUnplaced(*plan, 1)->why.code(), StatusCode::kUnschedulable);
}

TEST(Schedule, BinpackFillsFullerNodeFirst) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 4), Node("n1", 8000, 32000, 4)};
  s.nodes[1].free.gpu_free = {false, false, true, true};
  s.queue = {Job(1, 1, Req(1000, 100, 1), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto st = StartsOf(*plan, 1);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0]->node, 1);
  EXPECT_EQ(st[0]->gpus, std::vector<int>{2});
}

TEST(Schedule, GangIsAllOrNothingAcrossNodes) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4), Node("n1", 16000, 64000, 4)};
  s.nodes[1].free.gpu_free = {true, true, true, false};
  // 8 ranks of 1 GPU: only 7 GPUs free, so nothing may start.
  s.queue = {Job(1, 8, Req(1000, 100, 1), 100, /*gang=*/true)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(StartsOf(*plan, 1).empty());
  ASSERT_NE(FindUnplaced(*plan, 1), nullptr);
  EXPECT_EQ(FindUnplaced(*plan, 1)->why.code(), StatusCode::kUnschedulable);

  // With all 8 free it starts, spread over both nodes with consistent ranks.
  s.nodes[1].free.gpu_free = {true, true, true, true};
  plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto st = StartsOf(*plan, 1);
  ASSERT_EQ(st.size(), 8u);
  std::set<int> ranks;
  std::map<int, std::vector<const Placement*>> by_node;
  for (auto* p : st) {
    ranks.insert(p->gang_rank);
    by_node[p->node].push_back(p);
  }
  EXPECT_EQ(ranks, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  std::set<int> groups;
  for (auto& [node, ps] : by_node) {
    std::set<int> locals;
    int prev_gpu = -1;
    std::sort(ps.begin(), ps.end(), [](auto* a, auto* b) { return a->local_rank < b->local_rank; });
    for (auto* p : ps) {
      EXPECT_EQ(p->local_world, static_cast<int>(ps.size()));
      locals.insert(p->local_rank);
      groups.insert(p->group_rank);
      ASSERT_EQ(p->gpus.size(), 1u);
      EXPECT_GT(p->gpus[0], prev_gpu) << "GPUs must ascend with local rank";
      prev_gpu = p->gpus[0];
    }
    EXPECT_EQ(static_cast<int>(locals.size()), static_cast<int>(ps.size()));
  }
  EXPECT_EQ(groups, (std::set<int>{0, 1}));
}

TEST(Schedule, GangHonoursRanksPerNode) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4), Node("n1", 16000, 64000, 4), Node("n2", 16000, 64000, 4)};
  auto j = Job(1, 4, Req(1000, 100, 1), 100, true);
  std::const_pointer_cast<JobSpec>(j.spec)->ranks_per_node = 2;
  s.queue = {j};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto st = StartsOf(*plan, 1);
  ASSERT_EQ(st.size(), 4u);
  std::map<int, int> per_node;
  for (auto* p : st) {
    ++per_node[p->node];
    EXPECT_EQ(p->local_world, 2);
  }
  EXPECT_EQ(per_node.size(), 2u);
  for (auto [n, k] : per_node) EXPECT_EQ(k, 2);
}

TEST(Schedule, ArrayThrottleCountsRunningTasks) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 64000, 64000, 0)};
  auto j = Job(1, 10, Req(1000, 100, 0), 100);
  auto spec = std::const_pointer_cast<JobSpec>(j.spec);
  spec->array = {.first = 0, .last = 9, .throttle = 4};
  j.running_tasks = 1;
  s.queue = {j};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(StartsOf(*plan, 1).size(), 3u);
  ASSERT_NE(FindUnplaced(*plan, 1), nullptr);
  EXPECT_EQ(FindUnplaced(*plan, 1)->why.code(), StatusCode::kUnschedulable);
}

TEST(Schedule, PinnedNodeIsHonoured) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 2), Node("n1", 8000, 32000, 2)};
  s.nodes[0].free.gpu_free = {false, true};  // bin-pack would pick n0
  auto j = Job(1, 1, Req(1000, 100, 1), 100);
  j.pinned_node = 1;
  s.queue = {j};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto st = StartsOf(*plan, 1);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0]->node, 1);
}

TEST(Schedule, InfeasibleNamesTheLargestNode) {
  ClusterSnapshot s;
  s.nodes = {Node("node0", 8000, 32000, 1), Node("node1", 16000, 64000, 2)};
  s.queue = {Job(7, 1, Req(1000, 100, 4), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto* u = FindUnplaced(*plan, 7);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->why.code(), StatusCode::kInfeasible);
  EXPECT_EQ(u->why.message(),
            "needs 4 gpus per task; largest node node1 has 16 cpu, 64000MiB, 2 gpus");
}

TEST(Schedule, BusyIsUnschedulableNotInfeasible) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 2)};
  s.nodes[0].free.gpu_free = {false, false};
  s.queue = {Job(1, 1, Req(1000, 100, 2), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto* u = FindUnplaced(*plan, 1);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->why.code(), StatusCode::kUnschedulable);
}

TEST(Schedule, GpuModelAndMemoryAreFiltered) {
  ClusterSnapshot s;
  s.nodes = {Node("a100", 8000, 32000, 2, "NVIDIA A100", 40960),
             Node("h100", 8000, 32000, 2, "NVIDIA H100", 81920)};
  s.queue = {Job(1, 1, Req(1000, 100, 1, 80000), 100),
             Job(2, 1, Req(1000, 100, 1, 0, "A100"), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(StartsOf(*plan, 1).size(), 1u);
  EXPECT_EQ(StartsOf(*plan, 1)[0]->node, 1);
  ASSERT_EQ(StartsOf(*plan, 2).size(), 1u);
  EXPECT_EQ(StartsOf(*plan, 2)[0]->node, 0);
}

TEST(Schedule, DrainingAndLostNodesGetNoWork) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 1), Node("n1", 8000, 32000, 1)};
  s.nodes[0].state = NodeState::kDraining;
  s.nodes[1].state = NodeState::kLost;
  s.queue = {Job(1, 1, Req(1000, 100, 1), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(StartsOf(*plan, 1).empty());
  ASSERT_NE(FindUnplaced(*plan, 1), nullptr);
  EXPECT_EQ(FindUnplaced(*plan, 1)->why.code(), StatusCode::kUnschedulable);
}

TEST(Schedule, RejectsUnknownPolicy) {
  ClusterSnapshot s;
  SchedulerConfig c;
  c.queue_policy = "random";
  auto plan = Schedule(s, c);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
}

TEST(Schedule, GangRanksSeeTheirNodesGpusInLocalRankOrder) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4), Node("n1", 16000, 64000, 4)};
  s.nodes[0].free.gpu_free = {true, false, true, true};
  auto j = Job(1, 4, Req(1000, 100, 1), 100, true);
  std::const_pointer_cast<JobSpec>(j.spec)->ranks_per_node = 2;
  s.queue = {j, Job(2, 1, Req(1000, 100, 1), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  auto visible = VisibleGpusByRow(*plan);
  for (size_t i = 0; i < plan->placements.size(); ++i) {
    const Placement& p = plan->placements[i];
    if (p.task.job == 2) {
      EXPECT_EQ(visible[i], p.gpus);
      continue;
    }
    ASSERT_EQ(visible[i].size(), 2u);
    EXPECT_EQ(visible[i][p.local_rank], p.gpus[0]) << "cuda:LOCAL_RANK is the rank's own GPU";
  }
}

TEST(Schedule, TakesRegistriesAsValues) {
  // A scorer that prefers the highest node index, registered only in this registry.
  class LastNode final : public ScorePlugin {
   public:
    std::string_view name() const override { return "last-node"; }
    int Score(const PlacementAsk&, const ClusterState& st, int node) const override {
      return 100 * node / std::max(1, st.size() - 1);
    }
  };
  PluginRegistry plugins = PluginRegistry::Default();
  ASSERT_TRUE(plugins.AddScorer("last-node", [] { return std::make_unique<LastNode>(); }).ok());
  ClusterSnapshot s;
  s.nodes = {Node("n0", 8000, 32000, 2), Node("n1", 8000, 32000, 2), Node("n2", 8000, 32000, 2)};
  s.queue = {Job(1, 1, Req(1000, 100, 1), 100)};
  SchedulerConfig c;
  c.scorers = {"last-node"};
  c.candidate_limit = 0;
  auto plan = Schedule(s, c, plugins, QueuePolicyRegistry::Default());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->placements.at(0).node, 2);
  EXPECT_EQ(Schedule(s, c).status().code(), StatusCode::kInvalidArgument);
}

TEST(Schedule, ConfigNamesListEveryPlugin) {
  EXPECT_EQ(QueuePolicyNames(), (std::vector<std::string>{"fairshare", "fifo", "priority", "sjf"}));
  EXPECT_EQ(ScorerNames(), (std::vector<std::string>{"binpack", "fewest-nodes", "mct", "spread"}));
}

TEST(Schedule, NegativePredictionCountsAsZero) {
  ClusterSnapshot s;
  s.now_ms = 500;
  s.nodes = {Node("n0", 8000, 32000, 1)};
  s.queue = {Job(1, 1, Req(1000, 100, 1), -100), Job(2, 1, Req(1000, 100, 1), 100)};
  auto plan = Schedule(s, {});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->placements.size(), 2u);
  EXPECT_EQ(plan->placements[0].predicted_finish_ms, 500);
  EXPECT_EQ(plan->placements[1].predicted_start_ms, 500);
  EXPECT_FALSE(plan->placements[1].start_now);
}

}  // namespace
}  // namespace muster::sched
