#include "sim/queue_index.h"

namespace muster::sim {

QueueIndex::QueueIndex(size_t jobs, bool per_user) : per_user_(per_user), entry_(jobs) {}

void QueueIndex::Insert(int job, const OrderKey& key, int user, int gpus) {
  entry_[job] = {key, user, gpus};
  all_.insert(key);
  if (per_user_) by_user_[user].insert(key);
  ++sizes_[gpus];
}

void QueueIndex::Erase(int job) {
  Entry& e = entry_[job];
  all_.erase(e.key);
  if (per_user_) {
    auto it = by_user_.find(e.user);
    it->second.erase(e.key);
    if (it->second.empty()) by_user_.erase(it);
  }
  auto s = sizes_.find(e.gpus);
  if (--s->second == 0) sizes_.erase(s);
  e.user = -1;
}

void QueueIndex::FittingPrefix(size_t k, int64_t free_gpus, std::vector<int>* out,
                               int* blocked) const {
  out->clear();
  *blocked = -1;
  int64_t wanted = 0;
  for (auto it = all_.begin(); it != all_.end() && out->size() < k; ++it) {
    const int job = static_cast<int>(it->id);
    wanted += entry_[job].gpus;
    if (wanted > free_gpus) {
      *blocked = job;
      return;
    }
    out->push_back(job);
  }
}

void QueueIndex::View(size_t k, std::vector<int>* out) const {
  out->clear();
  if (!per_user_ || all_.size() <= k) {
    for (auto it = all_.begin(); it != all_.end() && out->size() < k; ++it)
      out->push_back(static_cast<int>(it->id));
    return;
  }
  std::vector<std::pair<std::set<OrderKey>::const_iterator, std::set<OrderKey>::const_iterator>>
      heads;
  for (const auto& [user, jobs] : by_user_) heads.push_back({jobs.begin(), jobs.end()});
  bool any = true;
  while (out->size() < k && any) {
    any = false;
    for (auto& [it, end] : heads) {
      if (it == end || out->size() >= k) continue;
      out->push_back(static_cast<int>(it->id));
      ++it;
      any = true;
    }
  }
}

}  // namespace muster::sim
