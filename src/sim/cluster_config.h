// The simulated cluster: groups of identical nodes, given as "NODESxGPUS" (e.g. 250x8) or as
// cluster-file lines "count gpus_per_node gpu_model speed" ('#' starts a comment).
// Each simulated node gets virtual GPUs of the group's model and the group's speed (relative
// compute rate; a job's run time is its trace duration divided by the slowest speed among its
// nodes). CPU and memory are not simulated: nodes get ample amounts and jobs ask for none.
// Pure: parses text handed in; reading the file is sim/io's job.
#pragma once

#include <string>
#include <vector>

#include "core/node.h"
#include "core/status.h"

namespace muster::sim {

struct NodeGroup {
  int count = 1;
  int gpus_per_node = 8;
  std::string gpu_model = "sim";
  double speed = 1.0;
};

struct ClusterConfig {
  std::vector<NodeGroup> groups;

  int TotalNodes() const;
  int TotalGpus() const;
  // "250x8" or "2 groups: 100x8 V100 (1.0), 50x4 K80 (0.5)".
  std::string Describe() const;
};

// Parses "NODESxGPUS" (both >= 1, GPUS <= 1024).
Result<ClusterConfig> ParseClusterShape(const std::string& text);

// Parses cluster-file text; errors name the 1-based line.
Result<ClusterConfig> ParseClusterFile(const std::string& text);

// Node specs for the scheduler: names "n0", "n1", ...; virtual GPUs; CPU/memory large enough.
std::vector<NodeSpec> BuildNodes(const ClusterConfig& c);

}  // namespace muster::sim
