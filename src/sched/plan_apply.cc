#include "sched/plan_apply.h"

#include <string>
#include <unordered_map>

#include "core/capacity.h"

namespace muster::sched {

namespace {

std::string Where(const Placement& p) {
  return "task " + std::to_string(p.task.job) + "." + std::to_string(p.task.index);
}

}  // namespace

AppliedPlan ApplyPlan(std::vector<NodeView>& nodes, const Plan& plan, const ApplyRules& rules) {
  // Group the start_now placements by job, keeping the order of first appearance.
  std::vector<JobStart> groups;
  std::unordered_map<JobId, size_t> group_of;
  for (const auto& p : plan.placements) {
    if (!p.start_now) continue;
    auto [it, fresh] = group_of.try_emplace(p.task.job, groups.size());
    if (fresh) groups.push_back({p.task.job, {}});
    groups[it->second].placements.push_back(&p);
  }

  AppliedPlan out;
  auto reject_all = [&](const JobStart& g, const std::string& why) {
    for (const Placement* p : g.placements) out.rejected.push_back({p, why});
  };
  for (JobStart& g : groups) {
    const JobAdmission adm = rules.job(g.job);
    if (!adm.admit.ok() || adm.request == nullptr) {
      reject_all(
          g, adm.admit.ok() ? "no request for job " + std::to_string(g.job) : adm.admit.message());
      continue;
    }
    // Debit on copies of the touched nodes, so that a gang that fails leaves nothing behind.
    std::unordered_map<int, NodeFree> trial;
    JobStart ok{g.job, {}};
    std::vector<RejectedPlacement> bad;
    for (const Placement* p : g.placements) {
      if (rules.task) {
        if (Status s = rules.task(*p); !s.ok()) {
          bad.push_back({p, s.message()});
          continue;
        }
      }
      if (p->node < 0 || p->node >= static_cast<int>(nodes.size())) {
        bad.push_back({p, Where(*p) + ": unknown node " + std::to_string(p->node)});
        continue;
      }
      const NodeView& v = nodes[p->node];
      if (v.state != NodeState::kReady) {
        bad.push_back({p, Where(*p) + ": node " + v.spec.name + " is " + NodeStateName(v.state)});
        continue;
      }
      auto [t, fresh] = trial.try_emplace(p->node, v.free);
      const Misfit m = CheckFit(v.spec, t->second, *adm.request, p->gpus);
      if (m != Misfit::kNone) {
        bad.push_back({p, Where(*p) + " on " + v.spec.name + ": " + MisfitText(m)});
        continue;
      }
      Take(t->second, *adm.request, p->gpus);
      ok.placements.push_back(p);
    }
    const bool whole_failed = adm.whole > 0 && static_cast<int>(ok.placements.size()) != adm.whole;
    if (whole_failed) {
      const std::string why =
          bad.empty() ? "gang of " + std::to_string(adm.whole) + " ranks has only " +
                            std::to_string(ok.placements.size()) + " placements in the plan"
                      : "gang rank rejected: " + bad.front().why;
      reject_all(g, why);
      continue;
    }
    out.rejected.insert(out.rejected.end(), bad.begin(), bad.end());
    if (ok.placements.empty()) continue;
    for (auto& [node, free] : trial) nodes[node].free = std::move(free);
    out.accepted.push_back(std::move(ok));
  }
  return out;
}

}  // namespace muster::sched
