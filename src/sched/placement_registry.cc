#include "sched/placement_registry.h"

#include "sched/filter_node_ready.h"
#include "sched/filter_node_user.h"
#include "sched/filter_resource_fit.h"
#include "sched/score_binpack.h"
#include "sched/score_fewest_nodes.h"
#include "sched/score_mct.h"
#include "sched/score_spread.h"

namespace muster::sched {

namespace {

template <typename Map>
std::vector<std::string> Keys(const Map& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

PluginRegistry PluginRegistry::Default() {
  PluginRegistry r;
  r.filters_[std::string(kNodeReadyFilter)] = MakeNodeReadyFilter;
  r.filters_[std::string(kNodeUserFilter)] = MakeNodeUserFilter;
  r.filters_[std::string(kResourceFitFilter)] = MakeResourceFitFilter;
  r.scorers_[std::string(kBinpackScorer)] = MakeBinpackScorer;
  r.scorers_[std::string(kSpreadScorer)] = MakeSpreadScorer;
  r.scorers_[std::string(kMctScorer)] = MakeMctScorer;
  r.scorers_[std::string(kFewestNodesScorer)] = MakeFewestNodesScorer;
  return r;
}

Status PluginRegistry::AddFilter(const std::string& name, FilterFactory factory) {
  if (!filters_.emplace(name, std::move(factory)).second)
    return Status::AlreadyExists("filter plugin '" + name + "' is already registered");
  return Status::Ok();
}

Status PluginRegistry::AddScorer(const std::string& name, ScoreFactory factory) {
  if (!scorers_.emplace(name, std::move(factory)).second)
    return Status::AlreadyExists("score plugin '" + name + "' is already registered");
  return Status::Ok();
}

Result<std::unique_ptr<FilterPlugin>> PluginRegistry::MakeFilter(const std::string& name) const {
  auto it = filters_.find(name);
  if (it == filters_.end())
    return Status::InvalidArgument("unknown filter '" + name + "'; known: " + Join(FilterNames()));
  return it->second();
}

Result<std::unique_ptr<ScorePlugin>> PluginRegistry::MakeScorer(const std::string& name) const {
  auto it = scorers_.find(name);
  if (it == scorers_.end())
    return Status::InvalidArgument("unknown scorer '" + name + "'; known: " + Join(ScorerNames()));
  return it->second();
}

std::vector<std::string> PluginRegistry::FilterNames() const {
  return Keys(filters_);
}
std::vector<std::string> PluginRegistry::ScorerNames() const {
  return Keys(scorers_);
}

}  // namespace muster::sched
