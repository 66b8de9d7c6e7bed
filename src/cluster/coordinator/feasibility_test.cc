#include "cluster/coordinator/feasibility.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

NodeSpec Node(const std::string& name, int gpus, MilliCpu cpus = 8000, MiB mem = 32000) {
  NodeSpec n;
  n.name = name;
  n.milli_cpus = cpus;
  n.memory_mib = mem;
  for (int i = 0; i < gpus; ++i)
    n.gpus.push_back(
        {.index = i, .model = "NVIDIA A100", .memory_mib = 40960, .is_virtual = false});
  return n;
}

JobSpec Spec(int gpus, int tasks = 1, bool gang = false, int ranks_per_node = 0) {
  JobSpec s;
  s.command = {"true"};
  s.tasks = tasks;
  s.gang = gang;
  s.ranks_per_node = ranks_per_node;
  s.resources.gpus = gpus;
  return s;
}

TEST(Feasibility, PlainJobNeedsOneNodeThatCouldHoldATask) {
  std::vector<NodeSpec> nodes = {Node("a", 2), Node("b", 4)};
  EXPECT_TRUE(CheckFeasible(Spec(4), nodes).ok());
  Status s = CheckFeasible(Spec(5), nodes);
  EXPECT_EQ(s.code(), StatusCode::kInfeasible);
  EXPECT_NE(s.message().find("largest node b: 8 cpu, 32000MiB, 4 gpus (NVIDIA A100, 40960MiB)"),
            std::string::npos)
      << s.message();
  JobSpec big_mem = Spec(1);
  big_mem.resources.min_gpu_memory_mib = 81920;
  EXPECT_EQ(CheckFeasible(big_mem, nodes).code(), StatusCode::kInfeasible);
  JobSpec model = Spec(1);
  model.resources.gpu_model = "H100";
  EXPECT_EQ(CheckFeasible(model, nodes).code(), StatusCode::kInfeasible);
}

TEST(Feasibility, GangNeedsTheIdleClusterToHoldAllRanks) {
  std::vector<NodeSpec> nodes = {Node("a", 2), Node("b", 4)};
  EXPECT_TRUE(CheckFeasible(Spec(1, 6, true), nodes).ok());
  Status s = CheckFeasible(Spec(1, 7, true), nodes);
  EXPECT_EQ(s.code(), StatusCode::kInfeasible);
  EXPECT_NE(s.message().find("holds 6 such ranks"), std::string::npos) << s.message();
  // Exactly 3 ranks per node: only b can take 3, so 6 ranks cannot fit.
  EXPECT_TRUE(CheckFeasible(Spec(1, 2, true, 2), nodes).ok());
  EXPECT_EQ(CheckFeasible(Spec(1, 6, true, 3), nodes).code(), StatusCode::kInfeasible);
  // CPU-bound ranks: 8 cpus per node, 3 cpus per rank -> 2 per node.
  JobSpec cpu = Spec(0, 5, true);
  cpu.resources.milli_cpus = 3000;
  EXPECT_EQ(CheckFeasible(cpu, nodes).code(), StatusCode::kInfeasible);
  cpu.tasks = 4;
  EXPECT_TRUE(CheckFeasible(cpu, nodes).ok());
}

}  // namespace
}  // namespace muster::cluster
