// The registry of placement plugins: a value (not a global) that maps plugin names to factories.
// Default() holds every built-in filter and scorer; tests and embedders may add their own.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "sched/placement_plugin.h"

namespace muster::sched {

using FilterFactory = std::function<std::unique_ptr<FilterPlugin>()>;
using ScoreFactory = std::function<std::unique_ptr<ScorePlugin>()>;

class PluginRegistry {
 public:
  // Built-ins: filters node-ready, node-user, resource-fit; scorers binpack, spread, mct, fewest-nodes.
  static PluginRegistry Default();

  // Fails with kAlreadyExists if the name is taken.
  Status AddFilter(const std::string& name, FilterFactory factory);
  Status AddScorer(const std::string& name, ScoreFactory factory);

  // A fresh plugin instance, or kInvalidArgument naming the known plugins.
  Result<std::unique_ptr<FilterPlugin>> MakeFilter(const std::string& name) const;
  Result<std::unique_ptr<ScorePlugin>> MakeScorer(const std::string& name) const;

  std::vector<std::string> FilterNames() const;
  std::vector<std::string> ScorerNames() const;

 private:
  std::map<std::string, FilterFactory> filters_;
  std::map<std::string, ScoreFactory> scorers_;
};

}  // namespace muster::sched
