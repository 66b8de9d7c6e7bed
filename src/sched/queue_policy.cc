#include "sched/queue_policy.h"

#include "sched/queue_fairshare.h"
#include "sched/queue_fifo.h"
#include "sched/queue_priority.h"
#include "sched/queue_sjf.h"

namespace muster::sched {

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
