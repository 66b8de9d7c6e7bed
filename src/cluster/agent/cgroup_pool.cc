// See cgroup_pool.h.
#include "cluster/agent/cgroup_pool.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

namespace muster::agent {

CgroupPool::CgroupPool(const CgroupTree* tree, size_t max_idle)
    : tree_(tree), max_idle_(max_idle) {}

CgroupPool::~CgroupPool() {
  std::lock_guard lock(mu_);
  for (const auto& [shape, idle] : idle_) tree_->Remove(idle.name);
  idle_.clear();
}

size_t CgroupPool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

Result<CgroupPool::Lease> CgroupPool::Take(const std::string& own_name, const TaskLimits& limits) {
  const uint32_t shape = tree_->ShapeOf(limits);
  const bool reusable = max_idle_ > 0 && tree_->Reusable(shape);
  while (reusable) {
    Idle idle;
    {
      std::lock_guard lock(mu_);
      auto [first, last] = idle_.equal_range(shape);
      if (first == last) break;
      auto it = first;  // one whose limits are this task's, if there is
      while (it != last && !(it->second.left && it->second.left->limits == limits)) ++it;
      if (it == last) it = first;
      idle = std::move(it->second);
      idle_.erase(it);
    }
    auto made = tree_->Reuse(idle.name, shape, limits, idle.left ? &*idle.left : nullptr);
    if (made.ok()) return Lease{idle.name, std::move(made).value()};
    spdlog::debug("cannot reuse cgroup {}: {}; removing it", idle.name, made.status().message());
    tree_->Remove(idle.name);
  }
  std::string name = own_name;
  if (reusable) {
    std::lock_guard lock(mu_);
    name = "pool." + std::to_string(getpid()) + "." + std::to_string(next_++);
  }
  auto made = tree_->Create(name, limits);
  if (!made.ok()) return made.status();
  return Lease{name, std::move(made).value()};
}

bool CgroupPool::Give(const std::string& name, uint32_t shape, bool may_keep,
                      std::optional<IdleCgroup> left) {
  if (may_keep && max_idle_ > 0 && tree_->Reusable(shape) && name.rfind("pool.", 0) == 0) {
    bool room;
    {
      std::lock_guard lock(mu_);
      room = idle_.size() < max_idle_;
    }
    if (room && tree_->Recycle(name, shape)) {
      std::lock_guard lock(mu_);
      if (idle_.size() < max_idle_) {
        idle_.emplace(shape, Idle{name, std::move(left)});
        return true;
      }
    }
  }
  return tree_->Remove(name) || (tree_->Kill(name) && tree_->Remove(name));
}

}  // namespace muster::agent
