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
  size_t qi = 0, vi = 0;
  std::vector<int> picked = ChoosePreemptionsPulled(
      free_gpus, [&]() { return qi < queued.size() ? &queued[qi++] : nullptr; },
      [&]() { return vi < worst_first.size() ? &running[worst_first[vi++]] : nullptr; });
  for (int& p : picked) p = worst_first[p];
  return picked;
}

}  // namespace muster::sim
