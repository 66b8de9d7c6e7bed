#include "sched/plan_apply.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace muster::sched {
namespace {

NodeView Node(const std::string& name, int gpus, const std::string& model = "virtual") {
  NodeView v;
  v.spec.name = name;
  v.spec.milli_cpus = 4000;
  v.spec.memory_mib = 4096;
  for (int g = 0; g < gpus; ++g) v.spec.gpus.push_back({g, model, 16384, false});
  v.free = NodeFree::AllFree(v.spec);
  return v;
}

Placement Start(JobId job, int index, int node, std::vector<int> gpus) {
  Placement p;
  p.task = {job, index};
  p.node = node;
  p.gpus = std::move(gpus);
  p.start_now = true;
  return p;
}

struct Jobs {
  ResourceRequest request{
      .milli_cpus = 1000, .memory_mib = 512, .gpus = 1, .min_gpu_memory_mib = 0, .gpu_model = ""};
  std::map<JobId, int> whole;  // gangs and their sizes
  std::set<JobId> refused;
  ApplyRules Rules() {
    ApplyRules r;
    r.job = [this](JobId id) {
      JobAdmission a;
      if (refused.count(id)) a.admit = Status::FailedPrecondition("job ended");
      a.request = &request;
      auto it = whole.find(id);
      a.whole = it == whole.end() ? 0 : it->second;
      return a;
    };
    return r;
  }
};

TEST(ApplyPlan, AcceptsWhatFitsAndDebitsIt) {
  std::vector<NodeView> nodes = {Node("a", 2), Node("b", 2)};
  Plan plan;
  plan.placements = {Start(1, 0, 0, {0}), Start(2, 0, 1, {1}), Start(1, 1, 0, {1})};
  Placement reservation = Start(3, 0, 1, {0});
  reservation.start_now = false;  // a prediction only: never applied
  plan.placements.push_back(reservation);
  Jobs jobs;
  AppliedPlan out = ApplyPlan(nodes, plan, jobs.Rules());
  ASSERT_EQ(out.accepted.size(), 2u);
  EXPECT_EQ(out.accepted[0].job, 1);  // order of first appearance
  EXPECT_EQ(out.accepted[0].placements.size(), 2u);
  EXPECT_EQ(out.accepted[1].job, 2);
  EXPECT_TRUE(out.rejected.empty());
  EXPECT_EQ(nodes[0].free.FreeGpuCount(), 0);
  EXPECT_EQ(nodes[0].free.milli_cpus, 2000);
  EXPECT_EQ(nodes[1].free.gpu_free, (std::vector<bool>{true, false}));
}

TEST(ApplyPlan, RejectsPlacementsThatNoLongerFitWithAReason) {
  std::vector<NodeView> nodes = {Node("a", 2), Node("b", 1)};
  nodes[0].free.gpu_free[0] = false;  // taken since the snapshot
  nodes[1].state = NodeState::kLost;  // left since the snapshot
  Plan plan;
  plan.placements = {Start(1, 0, 0, {0}), Start(2, 0, 0, {1}), Start(3, 0, 1, {0}),
                     Start(4, 0, 7, {0})};
  Jobs jobs;
  AppliedPlan out = ApplyPlan(nodes, plan, jobs.Rules());
  ASSERT_EQ(out.accepted.size(), 1u);
  EXPECT_EQ(out.accepted[0].job, 2);
  ASSERT_EQ(out.rejected.size(), 3u);
  EXPECT_EQ(out.rejected[0].why, "task 1.0 on a: a GPU that is already held");
  EXPECT_EQ(out.rejected[1].why, "task 3.0: node b is lost");
  EXPECT_EQ(out.rejected[2].why, "task 4.0: unknown node 7");
}

TEST(ApplyPlan, AGangStartsWholeOrLeavesNothingBehind) {
  std::vector<NodeView> nodes = {Node("a", 2), Node("b", 2)};
  nodes[1].free.milli_cpus = 500;  // rank 2 cannot start on b
  Plan plan;
  plan.placements = {Start(1, 0, 0, {0}), Start(1, 1, 0, {1}), Start(1, 2, 1, {0}),
                     Start(2, 0, 0, {0})};
  Jobs jobs;
  jobs.whole[1] = 3;
  AppliedPlan out = ApplyPlan(nodes, plan, jobs.Rules());
  // The gang is refused whole; its first two ranks' GPUs stay free, so job 2 starts on GPU 0.
  ASSERT_EQ(out.accepted.size(), 1u);
  EXPECT_EQ(out.accepted[0].job, 2);
  EXPECT_EQ(out.rejected.size(), 3u);
  EXPECT_EQ(out.rejected[0].why, "gang rank rejected: task 1.2 on b: not enough free CPU");
  EXPECT_EQ(nodes[0].free.gpu_free, (std::vector<bool>{false, true}));
  EXPECT_EQ(nodes[1].free.milli_cpus, 500);
}

TEST(ApplyPlan, AGangWithRanksMissingFromThePlanDoesNotStart) {
  std::vector<NodeView> nodes = {Node("a", 4)};
  Plan plan;
  plan.placements = {Start(1, 0, 0, {0}), Start(1, 1, 0, {1})};
  Jobs jobs;
  jobs.whole[1] = 4;
  AppliedPlan out = ApplyPlan(nodes, plan, jobs.Rules());
  EXPECT_TRUE(out.accepted.empty());
  ASSERT_EQ(out.rejected.size(), 2u);
  EXPECT_EQ(out.rejected[0].why, "gang of 4 ranks has only 2 placements in the plan");
  EXPECT_EQ(nodes[0].free.FreeGpuCount(), 4);
}

TEST(ApplyPlan, CallerRulesAndGpuConstraintsApply) {
  std::vector<NodeView> nodes = {Node("a", 2, "NVIDIA A100")};
  Plan plan;
  plan.placements = {Start(1, 0, 0, {0}), Start(2, 0, 0, {1}), Start(3, 0, 0, {1})};
  Jobs jobs;
  jobs.refused.insert(1);
  ApplyRules rules = jobs.Rules();
  rules.task = [](const Placement& p) {
    return p.task.job == 2 ? Status::FailedPrecondition("task is no longer pending") : Status::Ok();
  };
  jobs.request.gpu_model = "H100";  // the plan put it on an A100: refused, not started
  AppliedPlan out = ApplyPlan(nodes, plan, rules);
  EXPECT_TRUE(out.accepted.empty());
  ASSERT_EQ(out.rejected.size(), 3u);
  EXPECT_EQ(out.rejected[0].why, "job ended");
  EXPECT_EQ(out.rejected[1].why, "task is no longer pending");
  EXPECT_EQ(out.rejected[2].why, "task 3.0 on a: a GPU that does not match the request");
  EXPECT_EQ(nodes[0].free.FreeGpuCount(), 2);
}

}  // namespace
}  // namespace muster::sched
