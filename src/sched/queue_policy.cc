#include "sched/queue_policy.h"

#include <algorithm>
#include <numeric>

#include "sched/queue_fairshare.h"
#include "sched/queue_fifo.h"
#include "sched/queue_priority.h"
#include "sched/queue_sjf.h"

namespace muster::sched {

std::vector<int> SortedQueue(
    const ClusterSnapshot& snapshot,
    const std::function<bool(const PendingJob&, const PendingJob&)>& before) {
  std::vector<int> order(snapshot.queue.size());
  std::iota(order.begin(), order.end(), 0);
  const auto& q = snapshot.queue;
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (before(q[a], q[b])) return true;
    if (before(q[b], q[a])) return false;
    return a < b;
  });
  return order;
}

QueuePolicyRegistry QueuePolicyRegistry::Default() {
  QueuePolicyRegistry r;
  r.policies_[std::string(kFifoPolicy)] = MakeFifoPolicy;
  r.policies_[std::string(kPriorityPolicy)] = MakePriorityPolicy;
  r.policies_[std::string(kSjfPolicy)] = MakeSjfPolicy;
  r.policies_[std::string(kFairSharePolicy)] = MakeFairSharePolicy;
  return r;
}

Status QueuePolicyRegistry::Add(const std::string& name, QueuePolicyFactory factory) {
  if (!policies_.emplace(name, std::move(factory)).second)
    return Status::AlreadyExists("queue policy '" + name + "' is already registered");
  return Status::Ok();
}

Result<std::unique_ptr<QueuePolicy>> QueuePolicyRegistry::Make(const std::string& name) const {
  auto it = policies_.find(name);
  if (it == policies_.end()) {
    std::string known;
    for (const auto& n : Names()) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown queue policy '" + name + "'; known: " + known);
  }
  return it->second();
}

std::vector<std::string> QueuePolicyRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : policies_) out.push_back(k);
  return out;
}

}  // namespace muster::sched
