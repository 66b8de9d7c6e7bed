#include "sched/placement_state.h"

#include <algorithm>
#include <limits>

namespace muster::sched {

Result<ClusterState> ClusterState::FromSnapshot(const ClusterSnapshot& snapshot) {
  ClusterState s;
  s.nodes_ = &snapshot.nodes;
  const int n = static_cast<int>(snapshot.nodes.size());
  s.slots_.resize(n);
  s.speeds_.resize(n);
  for (int i = 0; i < n; ++i) {
    const NodeView& v = snapshot.nodes[i];
    if (v.spec.gpus.size() > 64)
      return Status::InvalidArgument("node " + v.spec.name + " has " +
                                     std::to_string(v.spec.gpus.size()) +
                                     " GPUs; the scheduler supports at most 64 per node");
    if (!v.free.gpu_free.empty() && v.free.gpu_free.size() != v.spec.gpus.size())
      return Status::InvalidArgument("node " + v.spec.name + ": free GPU list has " +
                                     std::to_string(v.free.gpu_free.size()) + " entries for " +
                                     std::to_string(v.spec.gpus.size()) + " GPUs");
    s.max_gpus_ = std::max(s.max_gpus_, static_cast<int>(v.spec.gpus.size()));
    s.user_restricted_ = s.user_restricted_ || !v.only_user.empty();
    s.speeds_[i] = v.spec.speed > 0 ? v.spec.speed : 1.0;
    s.max_speed_ = i == 0 ? s.speeds_[i] : std::max(s.max_speed_, s.speeds_[i]);
  }
  s.by_free_.assign(s.max_gpus_ + 1, std::vector<uint64_t>((n + 63) / 64, 0));
  std::vector<uint64_t> all(n, 0);
  for (int i = 0; i < n; ++i) {
    const NodeView& v = snapshot.nodes[i];
    s.slots_[i] = SlotOf(v);
    all[i] = v.spec.gpus.size() == 64 ? ~uint64_t{0} : (uint64_t{1} << v.spec.gpus.size()) - 1;
    s.Index(i);
  }
  s.class_masks_.push_back(std::move(all));
  s.saved_in_.assign(n, 0);
  return s;
}

NodeSlot ClusterState::SlotOf(const NodeView& v) {
  NodeSlot slot;
  slot.milli_cpus = v.free.milli_cpus;
  slot.memory_mib = v.free.memory_mib;
  slot.ready = v.state == NodeState::kReady;
  const size_t gpus = std::min<size_t>(v.free.gpu_free.size(), 64);
  for (size_t g = 0; g < gpus; ++g)
    if (v.free.gpu_free[g]) slot.gpu_free |= uint64_t{1} << g;
  slot.free_gpus = __builtin_popcountll(slot.gpu_free);
  return slot;
}

void ClusterState::Refresh(int node) {
  Change(node);
  slots_[node] = SlotOf((*nodes_)[node]);
  Index(node);
}

void ClusterState::BeginPass() {
  journal_.clear();
  journaling_ = true;
  if (++pass_ == 0) {  // wrapped: no stale stamp may match
    std::fill(saved_in_.begin(), saved_in_.end(), 0);
    pass_ = 1;
  }
}

void ClusterState::EndPass() {
  journaling_ = false;
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
    Unindex(it->first);
    slots_[it->first] = it->second;
    Index(it->first);
  }
  journal_.clear();
}

void ClusterState::Change(int node) {
  if (journaling_ && saved_in_[node] != pass_) {
    saved_in_[node] = pass_;
    journal_.push_back({node, slots_[node]});
  }
  Unindex(node);
}

TaskShape ClusterState::ShapeOf(const ResourceRequest& r) {
  TaskShape shape{r.milli_cpus, r.memory_mib, r.gpus, 0};
  if (r.gpus == 0 || (r.min_gpu_memory_mib <= 0 && r.gpu_model.empty())) return shape;
  auto key = std::make_pair(r.min_gpu_memory_mib, r.gpu_model);
  auto it = classes_.find(key);
  if (it == classes_.end()) {
    std::vector<uint64_t> masks(slots_.size(), 0);
    for (size_t i = 0; i < slots_.size(); ++i) {
      const auto& gpus = (*nodes_)[i].spec.gpus;
      for (size_t g = 0; g < gpus.size(); ++g)
        if (GpuMatches(gpus[g], r)) masks[i] |= uint64_t{1} << g;
    }
    class_masks_.push_back(std::move(masks));
    it = classes_.emplace(key, static_cast<int>(class_masks_.size()) - 1).first;
  }
  shape.gpu_class = it->second;
  return shape;
}

int ClusterState::TasksThatFit(int node, const TaskShape& shape, TimeMs finish_ms) const {
  const NodeSlot& s = slots_[node];
  if (!s.ready) return 0;
  MilliCpu cpu = s.milli_cpus;
  MiB mem = s.memory_mib;
  uint64_t gpus = s.gpu_free;
  if (!guard_.nodes.empty() && finish_ms > guard_.at && guard_.nodes[node].reserved) {
    const auto& g = guard_.nodes[node];
    cpu = std::min(cpu, g.spare_cpu);
    mem = std::min(mem, g.spare_mem);
    gpus &= ~g.gpus;
  }
  int64_t n = std::numeric_limits<int>::max();
  if (shape.milli_cpus > 0) n = std::min<int64_t>(n, cpu / shape.milli_cpus);
  if (shape.memory_mib > 0) n = std::min<int64_t>(n, mem / shape.memory_mib);
  if (shape.gpus > 0) {
    int usable = __builtin_popcountll(gpus & class_masks_[shape.gpu_class][node]);
    n = std::min<int64_t>(n, usable / shape.gpus);
  }
  return static_cast<int>(std::max<int64_t>(n, 0));
}

Grant ClusterState::Take(int node, const TaskShape& shape, TimeMs finish_ms) {
  NodeSlot& s = slots_[node];
  Grant g{node, shape.milli_cpus, shape.memory_mib, 0, false};
  uint64_t usable = s.gpu_free & class_masks_[shape.gpu_class][node];
  if (!guard_.nodes.empty() && finish_ms > guard_.at && guard_.nodes[node].reserved) {
    auto& ng = guard_.nodes[node];
    usable &= ~ng.gpus;
    ng.spare_cpu -= shape.milli_cpus;
    ng.spare_mem -= shape.memory_mib;
    g.guarded = true;
  }
  for (int k = 0; k < shape.gpus; ++k) {
    uint64_t low = usable & (~usable + 1);
    g.gpus |= low;
    usable &= usable - 1;
  }
  Change(node);
  s.milli_cpus -= shape.milli_cpus;
  s.memory_mib -= shape.memory_mib;
  s.gpu_free &= ~g.gpus;
  s.free_gpus = __builtin_popcountll(s.gpu_free);
  Index(node);
  return g;
}

void ClusterState::Give(const Grant& g) {
  NodeSlot& s = slots_[g.node];
  if (g.guarded && !guard_.nodes.empty()) {
    guard_.nodes[g.node].spare_cpu += g.milli_cpus;
    guard_.nodes[g.node].spare_mem += g.memory_mib;
  }
  Change(g.node);
  s.milli_cpus += g.milli_cpus;
  s.memory_mib += g.memory_mib;
  s.gpu_free |= g.gpus;
  s.free_gpus = __builtin_popcountll(s.gpu_free);
  Index(g.node);
}

void ClusterState::Index(int node) {
  if (!slots_[node].ready) return;
  by_free_[slots_[node].free_gpus][node / 64] |= uint64_t{1} << (node % 64);
}

void ClusterState::Unindex(int node) {
  if (!slots_[node].ready) return;
  by_free_[slots_[node].free_gpus][node / 64] &= ~(uint64_t{1} << (node % 64));
}

}  // namespace muster::sched
