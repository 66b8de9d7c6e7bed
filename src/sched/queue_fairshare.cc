#include "sched/queue_fairshare.h"

#include <algorithm>
#include <map>
#include <queue>
#include <tuple>

namespace muster::sched {

double DominantShare(const ResourceRequest& r, int tasks, const ScalarResources& capacity) {
  double share = 0;
  auto frac = [&](int64_t demand, int64_t cap) {
    if (cap > 0) share = std::max(share, static_cast<double>(demand) * tasks / cap);
  };
  frac(r.milli_cpus, capacity.milli_cpus);
  frac(r.memory_mib, capacity.memory_mib);
  frac(r.gpus, capacity.gpus);
  return share;
}

namespace {

class FairSharePolicy final : public QueuePolicy {
 public:
  std::string_view name() const override { return kFairSharePolicy; }

  std::vector<int> Order(const ClusterSnapshot& snapshot) const override {
    ScalarResources cap;
    for (const auto& n : snapshot.nodes) cap += n.spec.Capacity();
    const auto& q = snapshot.queue;
    std::vector<int> fifo = SortedQueue(snapshot, [](const PendingJob&) { return 0; });

    struct User {
      std::string name;
      double share = 0;
      std::vector<int> jobs;  // FIFO
      size_t next = 0;
    };
    std::vector<User> users;
    std::map<std::string, int> index;
    for (int j : fifo) {
      const std::string& name = q[j].spec->user;
      auto [it, inserted] = index.emplace(name, static_cast<int>(users.size()));
      if (inserted) users.push_back({name, q[j].user_dominant_share, {}, 0});
      users[it->second].jobs.push_back(j);
    }
    using Entry = std::tuple<double, std::string, int>;  // share, name, user index
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    for (size_t u = 0; u < users.size(); ++u)
      heap.emplace(users[u].share, users[u].name, static_cast<int>(u));

    std::vector<int> order;
    order.reserve(q.size());
    while (!heap.empty()) {
      auto [share, name, u] = heap.top();
      heap.pop();
      User& user = users[u];
      int j = user.jobs[user.next++];
      order.push_back(j);
      user.share +=
          DominantShare(q[j].spec->resources, static_cast<int>(q[j].pending_tasks.size()), cap);
      if (user.next < user.jobs.size()) heap.emplace(user.share, user.name, u);
    }
    return order;
  }
};

}  // namespace

std::unique_ptr<QueuePolicy> MakeFairSharePolicy() {
  return std::make_unique<FairSharePolicy>();
}

}  // namespace muster::sched
