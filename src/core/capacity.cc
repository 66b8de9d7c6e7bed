#include "core/capacity.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace muster {

namespace {

bool InRange(const NodeFree& free, int g) {
  return g >= 0 && g < static_cast<int>(free.gpu_free.size());
}

}  // namespace

int MatchingGpus(const NodeSpec& node, const ResourceRequest& r) {
  if (r.min_gpu_memory_mib <= 0 && r.gpu_model.empty())  // no per-GPU constraint: every GPU
    return static_cast<int>(node.gpus.size());
  int n = 0;
  for (const auto& g : node.gpus) n += GpuMatches(g, r) ? 1 : 0;
  return n;
}

int FreeMatchingGpus(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r) {
  const int n =
      std::min(static_cast<int>(free.gpu_free.size()), static_cast<int>(node.gpus.size()));
  int count = 0;
  for (int g = 0; g < n; ++g) count += free.gpu_free[g] && GpuMatches(node.gpus[g], r) ? 1 : 0;
  return count;
}

int IdleTasksThatFit(const NodeSpec& node, const ResourceRequest& r) {
  int64_t n = std::numeric_limits<int>::max();
  if (r.milli_cpus > 0) n = std::min<int64_t>(n, node.milli_cpus / r.milli_cpus);
  if (r.memory_mib > 0) n = std::min<int64_t>(n, node.memory_mib / r.memory_mib);
  if (r.gpus > 0) n = std::min<int64_t>(n, MatchingGpus(node, r) / r.gpus);
  return static_cast<int>(std::max<int64_t>(n, 0));
}

int FreeTasksThatFit(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r) {
  int64_t n = std::numeric_limits<int>::max();
  if (r.milli_cpus > 0) n = std::min<int64_t>(n, free.milli_cpus / r.milli_cpus);
  if (r.memory_mib > 0) n = std::min<int64_t>(n, free.memory_mib / r.memory_mib);
  if (r.gpus > 0) n = std::min<int64_t>(n, FreeMatchingGpus(node, free, r) / r.gpus);
  return static_cast<int>(std::max<int64_t>(n, 0));
}

const char* MisfitText(Misfit m) {
  switch (m) {
    case Misfit::kNone:
      return "";
    case Misfit::kCpu:
      return "not enough free CPU";
    case Misfit::kMemory:
      return "not enough free memory";
    case Misfit::kGpuCount:
      return "not enough free matching GPUs";
    case Misfit::kGpuUnknown:
      return "a GPU the node does not have";
    case Misfit::kGpuBusy:
      return "a GPU that is already held";
    case Misfit::kGpuMismatch:
      return "a GPU that does not match the request";
  }
  return "unknown";
}

Misfit CheckFit(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r,
                std::span<const int> gpus) {
  if (free.milli_cpus < r.milli_cpus) return Misfit::kCpu;
  if (free.memory_mib < r.memory_mib) return Misfit::kMemory;
  if (static_cast<int>(gpus.size()) != r.gpus) return Misfit::kGpuCount;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const int g = gpus[i];
    if (!InRange(free, g) || g >= static_cast<int>(node.gpus.size())) return Misfit::kGpuUnknown;
    if (!free.gpu_free[g]) return Misfit::kGpuBusy;
    if (!GpuMatches(node.gpus[g], r)) return Misfit::kGpuMismatch;
    if (std::find(gpus.begin(), gpus.begin() + static_cast<std::ptrdiff_t>(i), g) !=
        gpus.begin() + static_cast<std::ptrdiff_t>(i))
      return Misfit::kGpuBusy;  // named twice
  }
  return Misfit::kNone;
}

void Take(NodeFree& free, const ResourceRequest& r, std::span<const int> gpus) {
  free.milli_cpus -= r.milli_cpus;
  free.memory_mib -= r.memory_mib;
  for (int g : gpus)
    if (InRange(free, g)) free.gpu_free[g] = false;
}

void Release(NodeFree& free, const ResourceRequest& r, std::span<const int> gpus) {
  free.milli_cpus += r.milli_cpus;
  free.memory_mib += r.memory_mib;
  for (int g : gpus)
    if (InRange(free, g)) free.gpu_free[g] = true;
}

Fit TryTake(const NodeSpec& node, NodeFree& free, const ResourceRequest& r,
            std::span<const int> want) {
  Fit fit;
  if (want.empty() && r.gpus > 0) {
    const int n =
        std::min(static_cast<int>(free.gpu_free.size()), static_cast<int>(node.gpus.size()));
    for (int g = 0; g < n && static_cast<int>(fit.gpus.size()) < r.gpus; ++g)
      if (free.gpu_free[g] && GpuMatches(node.gpus[g], r)) fit.gpus.push_back(g);
  } else {
    fit.gpus.assign(want.begin(), want.end());
  }
  fit.misfit = CheckFit(node, free, r, fit.gpus);
  if (!fit.ok()) {
    fit.gpus.clear();
    return fit;
  }
  Take(free, r, fit.gpus);
  return fit;
}

Fit TryTakePreferring(const NodeSpec& node, NodeFree& free, const ResourceRequest& r,
                      std::span<const int> want) {
  Fit fit = TryTake(node, free, r, want);
  if (!fit.ok() && !want.empty()) fit = TryTake(node, free, r);
  return fit;
}

}  // namespace muster
