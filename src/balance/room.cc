#include "balance/room.h"

#include <algorithm>
#include <map>

namespace muster::balance {

double RemainingMs(const sched::RunningTask& t, TimeMs now) {
  return static_cast<double>(std::max<TimeMs>(0, t.predicted_finish_ms - now));
}

Room::Room(const sched::ClusterSnapshot& snapshot) : snapshot_(&snapshot) {
  nodes_.reserve(snapshot.nodes.size());
  for (const auto& v : snapshot.nodes) {
    NodeRoom r;
    r.milli_cpus = v.free.milli_cpus;
    r.memory_mib = v.free.memory_mib;
    r.gpu_free = v.free.gpu_free;
    r.gpu_free.resize(v.spec.gpus.size(), false);
    r.ready = v.state == NodeState::kReady;
    nodes_.push_back(std::move(r));
  }
}

int Room::FreeMatching(int node, const ResourceRequest& r) const {
  const auto& gpus = snapshot_->nodes[node].spec.gpus;
  int n = 0;
  for (size_t g = 0; g < gpus.size(); ++g)
    if (nodes_[node].gpu_free[g] && GpuMatches(gpus[g], r)) ++n;
  return n;
}

std::optional<std::vector<std::vector<int>>> Room::TakeOn(
    NodeRoom& room, int node, const std::vector<ResourceRequest>& requests) const {
  if (!room.ready) return std::nullopt;
  const auto& gpus = snapshot_->nodes[node].spec.gpus;
  std::vector<std::vector<int>> out;
  for (const auto& r : requests) {
    if (r.milli_cpus > room.milli_cpus || r.memory_mib > room.memory_mib) return std::nullopt;
    room.milli_cpus -= r.milli_cpus;
    room.memory_mib -= r.memory_mib;
    std::vector<int> got;
    for (size_t g = 0; g < gpus.size() && static_cast<int>(got.size()) < r.gpus; ++g) {
      if (room.gpu_free[g] && GpuMatches(gpus[g], r)) {
        room.gpu_free[g] = false;
        got.push_back(static_cast<int>(g));
      }
    }
    if (static_cast<int>(got.size()) < r.gpus) return std::nullopt;
    out.push_back(std::move(got));
  }
  return out;
}

bool Room::Fits(int node, const std::vector<ResourceRequest>& requests) const {
  NodeRoom trial = nodes_[node];
  return TakeOn(trial, node, requests).has_value();
}

std::optional<std::vector<std::vector<int>>> Room::Take(
    int node, const std::vector<ResourceRequest>& requests) {
  NodeRoom trial = nodes_[node];
  auto got = TakeOn(trial, node, requests);
  if (got) nodes_[node] = std::move(trial);
  return got;
}

void Room::Hold(int node, MilliCpu milli_cpus, MiB memory_mib, const std::vector<int>& gpus) {
  NodeRoom& room = nodes_[node];
  room.milli_cpus -= milli_cpus;
  room.memory_mib -= memory_mib;
  for (int g : gpus)
    if (g >= 0 && g < static_cast<int>(room.gpu_free.size())) room.gpu_free[g] = false;
}

void Room::Give(int node, const ResourceRequest& r, const std::vector<int>& gpus) {
  NodeRoom& room = nodes_[node];
  room.milli_cpus += r.milli_cpus;
  room.memory_mib += r.memory_mib;
  for (int g : gpus)
    if (g >= 0 && g < static_cast<int>(room.gpu_free.size())) room.gpu_free[g] = true;
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
