#include "balance/room.h"

#include <algorithm>
#include <map>

#include "core/capacity.h"

namespace muster::balance {

double RemainingMs(const sched::RunningTask& t, TimeMs now) {
  return static_cast<double>(std::max<TimeMs>(0, t.predicted_finish_ms - now));
}

Room::Room(const sched::ClusterSnapshot& snapshot) : snapshot_(&snapshot) {
  free_.reserve(snapshot.nodes.size());
  ready_.reserve(snapshot.nodes.size());
  for (const auto& v : snapshot.nodes) {
    NodeFree f = v.free;
    f.gpu_free.resize(v.spec.gpus.size(), false);
    free_.push_back(std::move(f));
    ready_.push_back(v.state == NodeState::kReady);
  }
}

int Room::FreeMatching(int node, const ResourceRequest& r) const {
  return FreeMatchingGpus(snapshot_->nodes[node].spec, free_[node], r);
}

std::optional<std::pair<NodeFree, std::vector<std::vector<int>>>> Room::TakeOn(
    int node, const std::vector<ResourceRequest>& requests) const {
  if (!ready_[node]) return std::nullopt;
  const NodeSpec& spec = snapshot_->nodes[node].spec;
  std::pair<NodeFree, std::vector<std::vector<int>>> out{free_[node], {}};
  for (const auto& r : requests) {
    Fit fit = TryTake(spec, out.first, r);
    if (!fit.ok()) return std::nullopt;
    out.second.push_back(std::move(fit.gpus));
  }
  return out;
}

bool Room::Fits(int node, const std::vector<ResourceRequest>& requests) const {
  return TakeOn(node, requests).has_value();
}

std::optional<std::vector<std::vector<int>>> Room::Take(
    int node, const std::vector<ResourceRequest>& requests) {
  auto got = TakeOn(node, requests);
  if (!got) return std::nullopt;
  free_[node] = std::move(got->first);
  return std::move(got->second);
}

void Room::Hold(int node, MilliCpu milli_cpus, MiB memory_mib, const std::vector<int>& gpus) {
  ResourceRequest held;
  held.milli_cpus = milli_cpus;
  held.memory_mib = memory_mib;
  held.gpus = static_cast<int>(gpus.size());
  muster::Take(free_[node], held, gpus);
}

void Room::Give(int node, const ResourceRequest& r, const std::vector<int>& gpus) {
  Release(free_[node], r, gpus);
}

std::vector<int> RunningUnit::TaskIndices(const sched::ClusterSnapshot& s) const {
  std::vector<int> out;
  for (int i : running) out.push_back(s.running[i].task.index);
  return out;
}

std::vector<ResourceRequest> RunningUnit::Requests(const sched::ClusterSnapshot& s) const {
  std::vector<ResourceRequest> out;
  for (int i : running) {
    ResourceRequest r = s.running[i].resources;
    r.gpus = static_cast<int>(s.running[i].gpus.size());
    out.push_back(r);
  }
  return out;
}

std::vector<RunningUnit> RunningUnits(const sched::ClusterSnapshot& snapshot, TimeMs now) {
  std::map<JobId, RunningUnit> by_job;
  for (int i = 0; i < static_cast<int>(snapshot.running.size()); ++i) {
    const auto& t = snapshot.running[i];
    auto [it, fresh] = by_job.try_emplace(t.task.job);
    RunningUnit& u = it->second;
    if (fresh) {
      u.job = t.task.job;
      u.node = t.node;
      u.checkpointable = true;
    }
    u.running.push_back(i);
    if (u.node != t.node) u.node = -1;
    u.checkpointable = u.checkpointable && t.checkpointable;
    u.gpus += static_cast<int>(t.gpus.size());
    u.remaining_ms = std::max(u.remaining_ms, RemainingMs(t, now));
  }
  std::vector<RunningUnit> out;
  for (auto& [job, u] : by_job) {
    std::sort(u.running.begin(), u.running.end(), [&](int a, int b) {
      return snapshot.running[a].task.index < snapshot.running[b].task.index;
    });
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace muster::balance
