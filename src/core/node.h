// Node descriptions: what a node has (NodeSpec), what is free on it now (NodeFree), and its
// liveness as the coordinator sees it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/resources.h"

namespace muster {

enum class NodeState { kReady, kDraining, kLost };
const char* NodeStateName(NodeState s);

struct NodeSpec {
  std::string name;
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  std::vector<GpuDevice> gpus;
  double speed = 1.0;  // relative compute rate (1.0 = reference device)

  ScalarResources Capacity() const {
    return {milli_cpus, memory_mib, static_cast<int>(gpus.size())};
  }
  // True if an idle node of this spec could run one task with request r.
  bool CouldEverFit(const ResourceRequest& r) const;
  // "node1: 16 cpu, 64000MiB, 2 gpus (virtual, 16384MiB)".
  std::string Describe() const;
};

// Free capacity of one node; gpu_free[i] tells whether spec.gpus[i] is unallocated.
struct NodeFree {
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  std::vector<bool> gpu_free;

  static NodeFree AllFree(const NodeSpec& spec);
  int FreeGpuCount() const;
};

// True if the GPU satisfies the request's per-GPU constraints (memory, model substring).
bool GpuMatches(const GpuDevice& gpu, const ResourceRequest& r);

}  // namespace muster
