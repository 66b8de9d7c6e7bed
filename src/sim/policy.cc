#include "sim/policy.h"

#include <algorithm>
#include <numeric>

namespace muster::sim {

std::vector<std::string> SimPolicyNames() {
  return {"fifo", "sjf", "srtf", "las", "priority", "fairshare"};
}

Result<SimPolicy> ResolvePolicy(const std::string& name) {
  SimPolicy p;
  p.name = name;
  if (name == "fifo") {
    p = {PolicyKind::kFifo, name, "fifo", false};
  } else if (name == "priority") {
    p = {PolicyKind::kPriority, name, "priority", false};
  } else if (name == "sjf") {
    p = {PolicyKind::kSjf, name, "sjf", false};
  } else if (name == "fairshare") {
    p = {PolicyKind::kFairshare, name, "fairshare", false};
  } else if (name == "srtf") {
    p = {PolicyKind::kSrtf, name, "sjf", true};
  } else if (name == "las") {
    p = {PolicyKind::kLas, name, "las", true};
  } else {
    std::string all;
    for (const auto& n : SimPolicyNames()) all += (all.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown policy '" + name + "' (choose from " + all + ")");
  }
  return p;
}

std::vector<int> ChoosePreemptions(int free_gpus, const std::vector<PreemptionCandidate>& queued,
                                   const std::vector<PreemptionCandidate>& running) {
  std::vector<int> worst_first(running.size());
  std::iota(worst_first.begin(), worst_first.end(), 0);
  std::sort(worst_first.begin(), worst_first.end(),
            [&](int a, int b) { return running[a].order > running[b].order; });
  std::vector<int> victims;
  size_t next = 0;  // next candidate victim in worst_first
  int free = free_gpus;
  for (const PreemptionCandidate& q : queued) {
    if (q.gpus <= free) {
      free -= q.gpus;
      continue;
    }
    size_t probe = next;
    int got = free;
    std::vector<int> tentative;
    while (got < q.gpus && probe < worst_first.size() &&
           running[worst_first[probe]].order > q.order) {
      got += running[worst_first[probe]].gpus;
      tentative.push_back(worst_first[probe]);
      ++probe;
    }
    if (got < q.gpus) break;
    victims.insert(victims.end(), tentative.begin(), tentative.end());
    next = probe;
    free = got - q.gpus;
  }
  // Keep running any victim (best first) whose GPUs are left over anyway.
  std::vector<int> preempt;
  for (auto it = victims.rbegin(); it != victims.rend(); ++it) {
    if (running[*it].gpus <= free) {
      free -= running[*it].gpus;
    } else {
      preempt.push_back(*it);
    }
  }
  std::reverse(preempt.begin(), preempt.end());
  return preempt;
}

}  // namespace muster::sim
