#include "core/node.h"

#include "core/capacity.h"

namespace muster {

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kReady:
      return "ready";
    case NodeState::kDraining:
      return "draining";
    case NodeState::kLost:
      return "lost";
  }
  return "unknown";
}

bool GpuMatches(const GpuDevice& gpu, const ResourceRequest& r) {
  if (r.min_gpu_memory_mib > 0 && gpu.memory_mib < r.min_gpu_memory_mib) return false;
  if (!r.gpu_model.empty() && gpu.model.find(r.gpu_model) == std::string::npos) return false;
  return true;
}

bool NodeSpec::CouldEverFit(const ResourceRequest& r) const {
  return IdleTasksThatFit(*this, r) > 0;
}

std::string NodeSpec::Describe() const {
  std::string s = name + ": " + FormatMilliCpus(milli_cpus) + " cpu, " +
                  std::to_string(memory_mib) + "MiB, " + std::to_string(gpus.size()) + " gpus";
  if (!gpus.empty()) {
    s += " (" + (gpus[0].is_virtual ? std::string("virtual") : gpus[0].model) + ", " +
         std::to_string(gpus[0].memory_mib) + "MiB)";
  }
  return s;
}

NodeFree NodeFree::AllFree(const NodeSpec& spec) {
  return {spec.milli_cpus, spec.memory_mib, std::vector<bool>(spec.gpus.size(), true)};
}

int NodeFree::FreeGpuCount() const {
  int n = 0;
  for (bool f : gpu_free) n += f ? 1 : 0;
  return n;
}

}  // namespace muster
