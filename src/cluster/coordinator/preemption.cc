// Preemption by priority (CoordinatorOptions::preemption == "priority").
//
// After each prediction pass, every queued job that started none of its tasks, has waited
// preempt_after_ms since it was submitted and is not predicted to start within as long again
// (nothing else frees room for it in time) looks for one node where its first pending task would
// fit if some running tasks of jobs of strictly lower priority stopped. Among the nodes, the one
// that needs the fewest such victims wins; on a node, victims are taken checkpointable first,
// then lowest priority, then the most recently started (the least work lost), and then every
// victim the job would fit without is dropped again. It needs the priority queue policy (the
// coordinator refuses --preempt priority otherwise), so that the preemptor, not its requeued
// victims, is first in line for what they free. The victims get
// SIGTERM with the stop reason "preempt" (StopToMove) and are requeued as new attempts without
// using a retry, resuming from their checkpoint; the preemptor is pinned to the node (as a
// balancer move is) so that what is freed goes to it. A job whose victims are still stopping, or
// that is pinned already, is not considered again.
//
// Not preempted: ranks of gangs (a gang would stop whole), tasks already stopping, jobs being
// migrated. Gangs do not preempt.
#include <algorithm>
#include <spdlog/spdlog.h>

#include "cluster/coordinator/coordinator.h"
#include "core/capacity.h"

namespace muster::cluster {

void Coordinator::Preempt(const std::vector<JobId>& queued, TimeMs now) {
  for (JobId id : queued) {
    JobRecord* p = jobs_.Find(id);
    if (!p || p->state != JobState::kPending || p->counts.active > 0 || p->pending_tasks.empty() ||
        p->spec->gang || !p->pinned_node.empty() || p->held_ms > 0)
      continue;
    if (now - p->submit_ms < options_.preempt_after_ms) continue;
    // Room comes in time without stopping anyone, or there is no prediction to judge by (a job
    // beyond the predicted part of the queue).
    if (p->predicted_start_ms <= now + options_.preempt_after_ms) continue;
    const ResourceRequest& r = p->spec->resources;
    struct Victim {
      JobRecord* job;
      TaskRecord* task;
      std::vector<int> gpus;
    };
    std::string best_node;
    std::vector<Victim> best;
    for (const auto& [name, n] : nodes_.all()) {
      if (!cluster_.Schedulable(name) || !n.rec.spec.CouldEverFit(r)) continue;
      if (!n.only_user.empty() && n.only_user != p->spec->user) continue;
      std::vector<Victim> candidates;
      for (auto& [ref, gpus] : cluster_.HoldingsOn(name)) {
        JobRecord* j = jobs_.Find(ref.job);
        TaskRecord* t = j ? JobTable::FindTask(*j, ref.index) : nullptr;
        if (!t || !t->Active() || t->stop_requested || j->spec->gang || !j->migrate_reason.empty() ||
            j->spec->priority >= p->spec->priority)
          continue;
        candidates.push_back({j, t, gpus});
      }
      std::sort(candidates.begin(), candidates.end(), [](const Victim& a, const Victim& b) {
        return std::make_tuple(!a.job->spec->checkpointable, a.job->spec->priority,
                               -a.task->start_ms) <
               std::make_tuple(!b.job->spec->checkpointable, b.job->spec->priority,
                               -b.task->start_ms);
      });
      NodeFree trial = *cluster_.Free(name);
      std::vector<Victim> chosen;
      bool fits = TryTake(n.rec.spec, trial, r).ok();
      for (size_t k = 0; !fits && k < candidates.size(); ++k) {
        Release(trial, candidates[k].job->spec->resources, candidates[k].gpus);
        chosen.push_back(candidates[k]);
        NodeFree probe = trial;
        fits = TryTake(n.rec.spec, probe, r).ok();
      }
      if (!fits || chosen.empty()) continue;  // no room even so, or room without preempting
      // As few as make room: drop every victim the job fits without (one that held nothing
      // the job was short of, or made room a later one also made).
      for (size_t k = chosen.size(); k-- > 0;) {
        NodeFree without = trial;
        Take(without, chosen[k].job->spec->resources, chosen[k].gpus);
        NodeFree probe = without;
        if (TryTake(n.rec.spec, probe, r).ok()) {
          trial = std::move(without);
          chosen.erase(chosen.begin() + static_cast<long>(k));
        }
      }
      if (best_node.empty() || chosen.size() < best.size()) {
        best_node = name;
        best = std::move(chosen);
      }
    }
    if (best_node.empty()) continue;
    const std::string why = "preempted by job " + std::to_string(p->id) + " (priority " +
                            std::to_string(p->spec->priority) + ")";
    for (Victim& v : best) {
      JobRecord& j = *v.job;
      if (j.migrate_reason.empty()) {
        j.migrate_reason = why;
        store_->UpdatePin(j);
        AddHistory(j, why + " on " + best_node + " at " + UtcTime(now));
      }
      spdlog::info("job {} task {} on {} preempted by job {}", j.id, v.task->index, best_node,
                   p->id);
      StopToMove(j, *v.task, "preempt");
    }
    p->pinned_node = best_node;
    p->pin_expires_ms = now + options_.kill_grace_ms + options_.pin_timeout_ms;
    store_->UpdatePin(*p);
    AddHistory(*p, "preempting " + std::to_string(best.size()) + " task(s) of lower priority on " +
                       best_node + " at " + UtcTime(now));
    Audit(Caller{.name = "scheduler", .role = Role::kAdmin, .via = "internal"}, "preempt",
          "job " + std::to_string(p->id) + " on " + best_node, Status::Ok());
  }
}

}  // namespace muster::cluster
