// The simulator's queue of waiting jobs, ordered by the policy's OrderKey, with the per-size
// counts that let the engine skip passes that cannot start anything, and the capped "view" that a
// scheduling pass sees (see engine.h). For fairshare the view takes every user's oldest jobs in
// turn (round robin), since the scheduler orders users by their current share.
// Pure; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
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
  // The queued jobs in key order, for callers that stop early (not a per-user view).
  std::set<OrderKey>::const_iterator begin() const { return all_.begin(); }
  std::set<OrderKey>::const_iterator end() const { return all_.end(); }
  // GPUs of a queued job. REQUIRES: job queued.
  int gpus(int job) const { return entry_[job].gpus; }
  // Up to k queued job ids in key order whose GPUs together fit in free_gpus: the jobs before the
  // first one that would not fit after them. *blocked gets that job, or -1 when the first k
  // jobs (or the whole queue) fit. Without backfill, and with the scheduler's order equal to the
  // key order, only these jobs can start in a pass. REQUIRES: !per_user.
  void FittingPrefix(size_t k, int64_t free_gpus, std::vector<int>* out, int* blocked) const;

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
