// "Never" (kInfeasible) versus "not now" (kUnschedulable).
#include "sched/placement_feasibility.h"

#include <gtest/gtest.h>

#include "sched/placement_test_util.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

ClusterSnapshot TwoNodes() {
  ClusterSnapshot s;
  s.nodes = {Node("node0", 8000, 32000, 2, "NVIDIA A100", 40960),
             Node("node1", 16000, 64000, 2, "NVIDIA A100", 40960)};
  // Busy nodes are still feasible: feasibility is about an idle cluster.
  s.nodes[0].free.gpu_free = {false, false};
  return s;
}

TEST(Feasibility, BusyButPossibleIsOk) {
  ClusterSnapshot s = TwoNodes();
  FeasibilityOracle o(s);
  EXPECT_TRUE(o.Check(Job(1, 1, Req(1000, 100, 2), 10)).ok());
  EXPECT_TRUE(o.Check(Job(2, 4, Req(1000, 100, 1), 10, true)).ok());
}

TEST(Feasibility, TooLargeForEveryNodeNamesTheLargest) {
  ClusterSnapshot s = TwoNodes();
  FeasibilityOracle o(s);
  Status st = o.Check(Job(1, 1, Req(32000, 100, 1), 10));
  EXPECT_EQ(st.code(), StatusCode::kInfeasible);
  EXPECT_EQ(st.message(), "needs 32 cpu per task; largest node node1 has 16 cpu, 64000MiB, 2 gpus");
  st = o.Check(Job(2, 1, Req(1000, 100, 1, 81920), 10));
  EXPECT_EQ(st.code(), StatusCode::kInfeasible);
  EXPECT_NE(st.message().find("no node has enough matching GPUs"), std::string::npos)
      << st.message();
}

TEST(Feasibility, NodesOfAnotherSingleUserDoNotCount) {
  ClusterSnapshot s = TwoNodes();
  s.nodes[0].only_user = "alice";  // agents that are not root
  s.nodes[1].only_user = "alice";
  FeasibilityOracle o(s);
  EXPECT_TRUE(o.Check(testing_util::OwnedBy(Job(1, 1, Req(1000, 100, 1), 10), "alice")).ok());
  Status bob = o.Check(testing_util::OwnedBy(Job(2, 1, Req(1000, 100, 1), 10), "bob"));
  EXPECT_EQ(bob.code(), StatusCode::kInfeasible);
  EXPECT_EQ(bob.message(),
            "no node runs bob's tasks: every agent runs as one user (alice), not as root, and "
            "runs only that user's tasks");
  // The same shape for alice is still feasible: the answer is remembered per user.
  EXPECT_TRUE(o.Check(testing_util::OwnedBy(Job(3, 1, Req(1000, 100, 1), 10), "alice")).ok());
  // With one node open to everyone, bob's job fits there only; too big for it is infeasible.
  s.nodes[0].only_user.clear();
  FeasibilityOracle open(s);
  EXPECT_TRUE(open.Check(testing_util::OwnedBy(Job(4, 1, Req(1000, 100, 1), 10), "bob")).ok());
  Status big = open.Check(testing_util::OwnedBy(Job(5, 1, Req(12000, 100, 1), 10), "bob"));
  EXPECT_EQ(big.code(), StatusCode::kInfeasible);
  EXPECT_EQ(big.message(), "needs 12 cpu per task; largest node node0 has 8 cpu, 32000MiB, 2 gpus");
}

TEST(Feasibility, GangLargerThanTheClusterIsInfeasible) {
  ClusterSnapshot s = TwoNodes();
  FeasibilityOracle o(s);
  Status st = o.Check(Job(1, 5, Req(1000, 100, 1), 10, true));
  EXPECT_EQ(st.code(), StatusCode::kInfeasible);
  EXPECT_NE(st.message().find("holds only 4"), std::string::npos) << st.message();
  PendingJob rpn = Job(2, 4, Req(1000, 100, 1), 10, true);
  std::const_pointer_cast<JobSpec>(rpn.spec)->ranks_per_node = 4;  // no node has 4 GPUs
  EXPECT_EQ(o.Check(rpn).code(), StatusCode::kInfeasible);
}

TEST(Feasibility, OnlyOnNodesThatAreNotReadyIsUnschedulable) {
  ClusterSnapshot s = TwoNodes();
  s.nodes[1].state = NodeState::kDraining;
  FeasibilityOracle o(s);
  Status st = o.Check(Job(1, 1, Req(12000, 100, 0), 10));
  EXPECT_EQ(st.code(), StatusCode::kUnschedulable);
  EXPECT_TRUE(o.Check(Job(2, 1, Req(1000, 100, 0), 10)).ok());
}

TEST(Feasibility, RebindKeepsAnswersOnlyWithinOneNodesGeneration) {
  ClusterSnapshot s = TwoNodes();
  s.nodes_generation = 4;
  FeasibilityOracle o(s);
  PendingJob j = Job(1, 1, Req(1000, 100, 1), 10);
  EXPECT_TRUE(o.Check(j).ok());
  for (auto& n : s.nodes) n.state = NodeState::kDraining;
  o.Rebind(s);  // same generation: the caller says nothing changed, so the answer is kept
  EXPECT_TRUE(o.Check(j).ok());
  s.nodes_generation = 5;
  o.Rebind(s);
  EXPECT_EQ(o.Check(j).code(), StatusCode::kUnschedulable);
  s.nodes_generation = 0;  // unknown: never kept
  for (auto& n : s.nodes) n.state = NodeState::kReady;
  o.Rebind(s);
  EXPECT_TRUE(o.Check(j).ok());
  for (auto& n : s.nodes) n.state = NodeState::kDraining;
  o.Rebind(s);
  EXPECT_EQ(o.Check(j).code(), StatusCode::kUnschedulable);
}

TEST(Feasibility, PinnedNodeMustExistAndFit) {
  ClusterSnapshot s = TwoNodes();
  FeasibilityOracle o(s);
  PendingJob j = Job(1, 1, Req(12000, 100, 0), 10);
  j.pinned_node = 0;
  EXPECT_EQ(o.Check(j).code(), StatusCode::kInfeasible);
  j.pinned_node = 1;
  EXPECT_TRUE(o.Check(j).ok());
  j.pinned_node = 7;
  EXPECT_EQ(o.Check(j).code(), StatusCode::kInfeasible);
}

}  // namespace
}  // namespace muster::sched
