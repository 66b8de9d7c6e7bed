// Queue ordering: which pending job the pass considers first. One small interface; each policy
// lives in its own file (queue_fifo, queue_priority, queue_sjf, queue_fairshare) with a name
// constant and a factory, and QueuePolicyRegistry maps names to factories as a value.
// Every order is total and deterministic: ties fall back to (submitted_ms, job id).
#pragma once

#include <algorithm>
#include <cstdint>
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

// Indices of snapshot.queue sorted by primary_key(job) ascending, then submission, then id.
// Sorts compact keys rather than the jobs themselves (100,000 jobs sort in a few ms).
template <typename PrimaryKey>
std::vector<int> SortedQueue(const ClusterSnapshot& snapshot, PrimaryKey&& primary_key) {
  struct Key {
    int64_t primary;
    TimeMs submitted;
    JobId id;
    int index;
    bool operator<(const Key& o) const {
      if (primary != o.primary) return primary < o.primary;
      if (submitted != o.submitted) return submitted < o.submitted;
      if (id != o.id) return id < o.id;
      return index < o.index;
    }
  };
  std::vector<Key> keys;
  keys.reserve(snapshot.queue.size());
  for (size_t i = 0; i < snapshot.queue.size(); ++i) {
    const PendingJob& j = snapshot.queue[i];
    keys.push_back(
        {static_cast<int64_t>(primary_key(j)), j.submitted_ms, j.id, static_cast<int>(i)});
  }
  std::sort(keys.begin(), keys.end());
  std::vector<int> order;
  order.reserve(keys.size());
  for (const Key& k : keys) order.push_back(k.index);
  return order;
}

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
