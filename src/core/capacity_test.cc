#include "core/capacity.h"

#include <gtest/gtest.h>

#include <random>

namespace muster {
namespace {

// Two A100 40 GB and two H100 80 GB.
NodeSpec Mixed() {
  return {.name = "m",
          .milli_cpus = 8000,
          .memory_mib = 16384,
          .gpus = {{0, "NVIDIA A100", 40960, false},
                   {1, "NVIDIA A100", 40960, false},
                   {2, "NVIDIA H100", 81920, false},
                   {3, "NVIDIA H100", 81920, false}}};
}

ResourceRequest Req(MilliCpu cpu, MiB mem, int gpus, std::string model = "", MiB gpu_mem = 0) {
  return {.milli_cpus = cpu,
          .memory_mib = mem,
          .gpus = gpus,
          .min_gpu_memory_mib = gpu_mem,
          .gpu_model = std::move(model)};
}

TEST(Capacity, IdleTasksThatFitIsBoundByTheScarcestResource) {
  NodeSpec n{.name = "a", .milli_cpus = 8000, .memory_mib = 1000, .gpus = {}};
  for (int g = 0; g < 4; ++g) n.gpus.push_back({g, "virtual", 16384, true});
  EXPECT_EQ(IdleTasksThatFit(n, Req(1000, 300, 1)), 3);  // memory-bound
  EXPECT_EQ(IdleTasksThatFit(n, Req(1000, 100, 1)), 4);  // GPU-bound
  EXPECT_EQ(IdleTasksThatFit(n, Req(1000, 100, 0)), 8);  // CPU-bound
  EXPECT_EQ(IdleTasksThatFit(n, Req(9000, 100, 0)), 0);
  EXPECT_EQ(IdleTasksThatFit(n, Req(1000, 100, 5)), 0);
}

TEST(Capacity, FreeTasksThatFitCountsWhatIsFreeNow) {
  const NodeSpec n = Mixed();
  NodeFree f = NodeFree::AllFree(n);
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(1000, 1024, 1, "H100")), 2);
  ASSERT_TRUE(TryTake(n, f, Req(3000, 1024, 1, "H100")).ok());
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(1000, 1024, 1, "H100")), 1);   // one H100 left
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(1000, 1024, 0)), 5);           // 5000 millicores left
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(1000, 8192, 0)), 1);           // memory-bound
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(0, 0, 2, "A100")), 1);
  f.milli_cpus = -500;  // a node that came back smaller than what it runs
  EXPECT_EQ(FreeTasksThatFit(n, f, Req(1000, 0, 0)), 0);
  // Never more than one idle node holds, whatever the state.
  const NodeFree idle = NodeFree::AllFree(n);
  for (const auto& r : {Req(1000, 300, 1), Req(0, 0, 1, "", 50000), Req(2000, 100, 0)})
    EXPECT_EQ(FreeTasksThatFit(n, idle, r), IdleTasksThatFit(n, r));
}

TEST(Capacity, GpuConstraintsApplyEverywhere) {
  const NodeSpec n = Mixed();
  EXPECT_EQ(MatchingGpus(n, Req(0, 0, 1, "H100")), 2);
  EXPECT_EQ(MatchingGpus(n, Req(0, 0, 1, "", 50000)), 2);
  EXPECT_EQ(IdleTasksThatFit(n, Req(0, 0, 2, "A100")), 1);
  NodeFree f = NodeFree::AllFree(n);
  // Naming an A100 for an H100 request is refused, not silently accepted.
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 1, "H100"), std::vector<int>{0}), Misfit::kGpuMismatch);
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 1, "H100"), std::vector<int>{2}), Misfit::kNone);
  // Picking skips GPUs that do not match.
  Fit fit = TryTake(n, f, Req(0, 0, 2, "", 60000));
  ASSERT_TRUE(fit.ok());
  EXPECT_EQ(fit.gpus, (std::vector<int>{2, 3}));
  EXPECT_EQ(FreeMatchingGpus(n, f, Req(0, 0, 1, "H100")), 0);
  EXPECT_EQ(FreeMatchingGpus(n, f, Req(0, 0, 1)), 2);
}

TEST(Capacity, CheckFitNamesWhatIsMissing) {
  const NodeSpec n = Mixed();
  NodeFree f = NodeFree::AllFree(n);
  EXPECT_EQ(CheckFit(n, f, Req(9000, 0, 0), {}), Misfit::kCpu);
  EXPECT_EQ(CheckFit(n, f, Req(0, 20000, 0), {}), Misfit::kMemory);
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 2), std::vector<int>{0}), Misfit::kGpuCount);
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 1), std::vector<int>{7}), Misfit::kGpuUnknown);
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 1), std::vector<int>{-1}), Misfit::kGpuUnknown);
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 2), std::vector<int>{1, 1}), Misfit::kGpuBusy);
  f.gpu_free[1] = false;
  EXPECT_EQ(CheckFit(n, f, Req(0, 0, 1), std::vector<int>{1}), Misfit::kGpuBusy);
  EXPECT_STREQ(MisfitText(Misfit::kCpu), "not enough free CPU");
  EXPECT_STREQ(MisfitText(Misfit::kNone), "");
}

TEST(Capacity, TryTakeLeavesFreeUnchangedOnAMisfit) {
  const NodeSpec n = Mixed();
  NodeFree f = NodeFree::AllFree(n);
  const NodeFree before = f;
  EXPECT_EQ(TryTake(n, f, Req(1000, 20000, 1)).misfit, Misfit::kMemory);
  EXPECT_EQ(TryTake(n, f, Req(1000, 100, 5)).misfit, Misfit::kGpuCount);
  EXPECT_EQ(TryTake(n, f, Req(1000, 100, 1), std::vector<int>{9}).misfit, Misfit::kGpuUnknown);
  EXPECT_EQ(f.milli_cpus, before.milli_cpus);
  EXPECT_EQ(f.memory_mib, before.memory_mib);
  EXPECT_EQ(f.gpu_free, before.gpu_free);
  Fit fit = TryTake(n, f, Req(1000, 100, 1), std::vector<int>{3});
  ASSERT_TRUE(fit.ok());
  EXPECT_EQ(fit.gpus, std::vector<int>{3});
  EXPECT_FALSE(f.gpu_free[3]);
  EXPECT_EQ(f.milli_cpus, 7000);
}

TEST(Capacity, TryTakePreferringFallsBackToOtherGpus) {
  const NodeSpec n = Mixed();
  NodeFree f = NodeFree::AllFree(n);
  f.gpu_free[2] = false;  // the GPU the decision named went meanwhile
  Fit fit = TryTakePreferring(n, f, Req(0, 0, 1, "H100"), std::vector<int>{2});
  ASSERT_TRUE(fit.ok());
  EXPECT_EQ(fit.gpus, std::vector<int>{3});
  fit = TryTakePreferring(n, f, Req(0, 0, 1), std::vector<int>{1});
  ASSERT_TRUE(fit.ok());
  EXPECT_EQ(fit.gpus, std::vector<int>{1});  // named and free: that one
  EXPECT_EQ(TryTakePreferring(n, f, Req(0, 0, 1, "H100"), std::vector<int>{3}).misfit,
            Misfit::kGpuCount);  // none left
}

TEST(Capacity, TakeHoldsWhatRunsEvenBeyondCapacity) {
  // A view of tasks already running may go negative (the node re-registered smaller); nothing
  // then fits, and out-of-range GPUs are ignored instead of corrupting memory.
  NodeSpec n{.name = "s", .milli_cpus = 1000, .memory_mib = 100, .gpus = {}};
  n.gpus.push_back({0, "virtual", 1, true});
  NodeFree f = NodeFree::AllFree(n);
  Take(f, Req(2000, 50, 1), std::vector<int>{0, 5});
  EXPECT_EQ(f.milli_cpus, -1000);
  EXPECT_EQ(TryTake(n, f, Req(0, 0, 0)).misfit, Misfit::kCpu);
  Release(f, Req(2000, 50, 1), std::vector<int>{0, 5});
  EXPECT_EQ(f.milli_cpus, 1000);
  EXPECT_TRUE(f.gpu_free[0]);
}

// Property: a random sequence of TryTake and Release never hands out a GPU twice, never drives
// CPU or memory below zero, and releasing everything restores the idle node exactly.
TEST(Capacity, RandomTakesAndReleasesConserveCapacity) {
  const NodeSpec n = Mixed();
  std::mt19937 rng(7);
  int taken_total = 0;
  for (int round = 0; round < 200; ++round) {
    NodeFree f = NodeFree::AllFree(n);
    std::vector<std::pair<ResourceRequest, std::vector<int>>> held;
    for (int step = 0; step < 30; ++step) {
      if (!held.empty() && rng() % 3 == 0) {
        size_t k = rng() % held.size();
        Release(f, held[k].first, held[k].second);
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      static const char* kModels[] = {"", "A100", "H100"};
      ResourceRequest r = Req(500 * (1 + rng() % 4), 1024 * (1 + rng() % 4),
                              static_cast<int>(rng() % 3), kModels[rng() % 3]);
      Fit fit = TryTake(n, f, r);
      if (!fit.ok()) continue;
      ++taken_total;
      for (int g : fit.gpus) EXPECT_TRUE(GpuMatches(n.gpus[g], r));
      held.push_back({r, fit.gpus});
      ASSERT_GE(f.milli_cpus, 0);
      ASSERT_GE(f.memory_mib, 0);
      std::vector<int> owners(n.gpus.size(), 0);
      for (const auto& [req, gpus] : held)
        for (int g : gpus) ++owners[g];
      for (size_t g = 0; g < owners.size(); ++g) {
        ASSERT_LE(owners[g], 1);
        ASSERT_EQ(owners[g] == 1, !f.gpu_free[g]);
      }
    }
    for (const auto& [req, gpus] : held) Release(f, req, gpus);
    const NodeFree idle = NodeFree::AllFree(n);
    EXPECT_EQ(f.milli_cpus, idle.milli_cpus);
    EXPECT_EQ(f.memory_mib, idle.memory_mib);
    EXPECT_EQ(f.gpu_free, idle.gpu_free);
  }
  EXPECT_GT(taken_total, 1000);  // the property was exercised, not vacuous
}

}  // namespace
}  // namespace muster
