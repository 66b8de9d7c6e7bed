#include "sim/cluster_config.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace muster::sim {

int ClusterConfig::TotalNodes() const {
  int n = 0;
  for (const auto& g : groups) n += g.count;
  return n;
}

int ClusterConfig::TotalGpus() const {
  int n = 0;
  for (const auto& g : groups) n += g.count * g.gpus_per_node;
  return n;
}

std::string ClusterConfig::Describe() const {
  auto one = [](const NodeGroup& g) {
    return std::to_string(g.count) + "x" + std::to_string(g.gpus_per_node);
  };
  if (groups.size() == 1 && groups[0].gpu_model == "sim" && groups[0].speed == 1.0)
    return one(groups[0]);
  std::string s = std::to_string(groups.size()) + " group" + (groups.size() == 1 ? "" : "s") + ":";
  for (size_t i = 0; i < groups.size(); ++i) {
    std::ostringstream sp;
    sp << groups[i].speed;
    s += (i ? ", " : " ") + one(groups[i]) + " " + groups[i].gpu_model + " (" + sp.str() + ")";
  }
  return s;
}

Result<ClusterConfig> ParseClusterShape(const std::string& text) {
  auto x = text.find_first_of("xX");
  auto bad = [&] {
    return Status::InvalidArgument("cluster '" + text +
                                   "' is not NODESxGPUS (e.g. 250x8, both at least 1)");
  };
  if (x == std::string::npos || x == 0 || x + 1 >= text.size()) return bad();
  char* end = nullptr;
  long nodes = std::strtol(text.c_str(), &end, 10);
  if (end != text.c_str() + x) return bad();
  long gpus = std::strtol(text.c_str() + x + 1, &end, 10);
  if (end != text.c_str() + text.size()) return bad();
  if (nodes < 1 || gpus < 1 || nodes > 10'000'000 || gpus > 1024) return bad();
  ClusterConfig c;
  c.groups.push_back({static_cast<int>(nodes), static_cast<int>(gpus), "sim", 1.0});
  return c;
}

Result<ClusterConfig> ParseClusterFile(const std::string& text) {
  ClusterConfig c;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ls(line);
    std::string first;
    if (!(ls >> first)) continue;
    NodeGroup g;
    std::string gpus, model, speed, extra;
    ls >> gpus >> model >> speed;
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument("cluster file line " + std::to_string(lineno) + ": " + why +
                                     " (expected 'count gpus_per_node gpu_model speed')");
    };
    if (speed.empty()) return bad("needs 4 fields");
    if (ls >> extra) return bad("has more than 4 fields");
    char* end = nullptr;
    long count = std::strtol(first.c_str(), &end, 10);
    if (*end || count < 1 || count > 10'000'000) return bad("count '" + first + "' is not >= 1");
    long per = std::strtol(gpus.c_str(), &end, 10);
    if (*end || per < 1 || per > 1024) return bad("gpus_per_node '" + gpus + "' is not 1..1024");
    double sp = std::strtod(speed.c_str(), &end);
    if (*end || !std::isfinite(sp) || sp <= 0) return bad("speed '" + speed + "' is not > 0");
    g.count = static_cast<int>(count);
    g.gpus_per_node = static_cast<int>(per);
    g.gpu_model = model;
    g.speed = sp;
    c.groups.push_back(g);
  }
  if (c.groups.empty()) return Status::InvalidArgument("cluster file has no node lines");
  return c;
}

std::vector<NodeSpec> BuildNodes(const ClusterConfig& c) {
  std::vector<NodeSpec> nodes;
  nodes.reserve(static_cast<size_t>(c.TotalNodes()));
  for (const auto& g : c.groups) {
    for (int i = 0; i < g.count; ++i) {
      NodeSpec n;
      n.name = "n" + std::to_string(nodes.size());
      n.milli_cpus = 1'000'000;
      n.memory_mib = 1 << 24;
      n.speed = g.speed;
      for (int k = 0; k < g.gpus_per_node; ++k) n.gpus.push_back({k, g.gpu_model, 81920, true});
      nodes.push_back(std::move(n));
    }
  }
  return nodes;
}

}  // namespace muster::sim
