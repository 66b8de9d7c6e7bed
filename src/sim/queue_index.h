// The simulator's queue of waiting jobs, ordered by the policy's OrderKey, with the per-size
// counts that let the engine skip passes that cannot start anything, and the capped "view" that a
// scheduling pass sees (see engine.h). For fairshare the view takes every user's oldest jobs in
// turn (round robin), since the scheduler orders users by their current share.
// Pure; not thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include "sim/policy.h"

namespace muster::sim {

class QueueIndex {
 public:
  // `jobs`: number of job ids (0..jobs-1); `per_user`: build the fairshare view.
  QueueIndex(size_t jobs, bool per_user);

  // REQUIRES: job not queued. key.id must be the job id.
  void Insert(int job, const OrderKey& key, int user, int gpus);
  // REQUIRES: job queued.
  void Erase(int job);

  size_t size() const { return all_.size(); }
  bool empty() const { return all_.empty(); }
  // Fewest GPUs any queued job needs; 0 when empty.
  int MinGpus() const { return sizes_.empty() ? 0 : sizes_.begin()->first; }
  // Up to k queued job ids: the first k in key order (round robin over users for per_user).
  void View(size_t k, std::vector<int>* out) const;

 private:
  struct Entry {
    OrderKey key;
    int user = -1;
    int gpus = 0;
  };
  bool per_user_;
  std::set<OrderKey> all_;
  std::map<int, std::set<OrderKey>> by_user_;
  std::map<int, int> sizes_;  // gpus -> queued jobs of that size
  std::vector<Entry> entry_;  // by job id; user -1 = not queued
};

}  // namespace muster::sim
