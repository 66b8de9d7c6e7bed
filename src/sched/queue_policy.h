// Queue ordering: which pending job the pass considers first. One small interface; each policy
// lives in its own file (queue_fifo, queue_priority, queue_sjf, queue_fairshare) with a name
// constant and a factory, and QueuePolicyRegistry maps names to factories as a value.
// Every order is total and deterministic: ties fall back to (submitted_ms, job id).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sched/snapshot.h"

namespace muster::sched {

class QueuePolicy {
 public:
  virtual ~QueuePolicy() = default;
  virtual std::string_view name() const = 0;
  // Indices into snapshot.queue, in the order the pass should consider them.
  virtual std::vector<int> Order(const ClusterSnapshot& snapshot) const = 0;
};

// FIFO tie-break shared by every policy: earlier submission, then smaller id.
inline bool SubmittedBefore(const PendingJob& a, const PendingJob& b) {
  return a.submitted_ms != b.submitted_ms ? a.submitted_ms < b.submitted_ms : a.id < b.id;
}

// Indices of snapshot.queue sorted by `before` (a strict weak order).
std::vector<int> SortedQueue(const ClusterSnapshot& snapshot,
                             const std::function<bool(const PendingJob&, const PendingJob&)>& before);

using QueuePolicyFactory = std::function<std::unique_ptr<QueuePolicy>()>;

class QueuePolicyRegistry {
 public:
  // fifo, priority, sjf, fairshare.
  static QueuePolicyRegistry Default();
  Status Add(const std::string& name, QueuePolicyFactory factory);
  // A fresh policy, or kInvalidArgument naming the known policies.
  Result<std::unique_ptr<QueuePolicy>> Make(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, QueuePolicyFactory> policies_;
};

}  // namespace muster::sched
