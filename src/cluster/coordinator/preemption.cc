// Preemption (CoordinatorOptions::preemption: "priority", "srtf" or "las").
//
// After each prediction pass, every queued job that started none of its tasks, has waited
// preempt_after_ms since it was submitted and is not predicted to start within as long again
// (nothing else frees room for it in time) looks, best first in the policy's order, for one node
// where its first pending task would fit if some running tasks that come after it stopped:
//   priority  tasks of jobs of strictly lower priority;
//   srtf      tasks with more predicted time left (to their predicted finish, or a queued job's
//             predicted duration; less, for a checkpointable job, what its earlier attempts ran);
//   las       tasks of jobs of a higher level of attained GPU service, or of the same level and
//             submitted later (FIFO within a level, as in Tiresias);
// srtf and las compare sched::OrderKey, the order `muster sim` replays (sched/preemption_order.h).
// Among the nodes, the one that needs the fewest victims wins; on a node, victims are taken
// checkpointable first, then the furthest back in the order (lowest priority, most time left,
// highest level), then the most recently started (the least work lost), and then every victim
// the job would fit without is dropped again. Each order runs with its queue policy (Open refuses
// it otherwise), so that the preemptor, not its requeued victims, is first in line for what they
// free. The victims get SIGTERM with the stop reason "preempt" and are requeued as new attempts
// without using a retry (StopToMove), resuming from their checkpoint, or, when their job says
// cancel_on_preempt, end cancelled. The preemptor is pinned to the node (as a balancer move is)
// so that what is freed goes to it. A job whose victims are still stopping, or that is pinned
// already, is not considered again.
//
// Not preempted: ranks of gangs (a gang would stop whole), tasks already stopping, jobs being
// migrated. Gangs do not preempt.
#include <algorithm>
#include <spdlog/spdlog.h>

#include "cluster/coordinator/coordinator.h"
#include "core/capacity.h"

namespace muster::cluster {

int64_t Coordinator::AttainedGpuMs(const JobRecord& j, TimeMs now) const {
  int64_t ms = j.attained_gpu_ms;
  for (int i : j.active_tasks) {
    const TaskRecord* t = JobTable::FindTask(j, i);
    if (t && t->state == TaskState::kRunning && t->start_ms > 0 && now > t->start_ms)
      ms += static_cast<int64_t>(t->gpus.size()) * (now - t->start_ms);
  }
  return ms;
}

sched::OrderKey Coordinator::PreemptionKey(const JobRecord& j, const TaskRecord* running,
                                           DurationMs predicted_ms, TimeMs now) const {
  sched::OrderKey k{.key = 0, .submit_ms = j.submit_ms, .id = j.id};
  if (options_.preemption == "las") {
    k.key = sched::LasKey(static_cast<double>(AttainedGpuMs(j, now)) / 1000.0,
                          options_.las_thresholds_gpu_s);
  } else if (options_.preemption == "srtf") {
    // Both sides on one basis: the prediction on the device the job most likely gets (as the
    // pass's queue key), less what ran: a running task's elapsed time and, for a checkpointable
    // job, which resumes, what its earlier attempts ran (per task, on average). Otherwise a job
    // predicted on one device and running on a slower one could preempt its own preemptor.
    double left = running ? PredictSeconds(*j.spec, LikelyDevice(*j.spec)) * 1000 -
                                static_cast<double>(now - running->start_ms)
                          : static_cast<double>(predicted_ms);
    if (j.spec->checkpointable)
      left -= static_cast<double>(j.resumable_ms) / std::max(1, j.spec->TaskCount());
    // A task past its prediction has, at most, what its time limit leaves it.
    if (running && left <= 0 && j.spec->time_limit_ms > 0)
      left = static_cast<double>(j.spec->time_limit_ms - (now - running->start_ms));
    k.key = sched::SrtfKey(left);
  } else {
    k.key = -static_cast<int64_t>(j.spec->priority);
  }
  return k;
}

void Coordinator::LoadAttained(const std::vector<AccountingRow>& rows) {
  for (const AccountingRow& r : rows) {
    JobRecord* j = jobs_.Find(r.job);
    if (!j || IsTerminal(j->state) || r.start_ms <= 0 || r.end_ms <= r.start_ms) continue;
    j->attained_gpu_ms += static_cast<int64_t>(r.gpus) * (r.end_ms - r.start_ms);
    if (r.state == "requeued" && j->spec->checkpointable) j->resumable_ms += r.end_ms - r.start_ms;
  }
}

void Coordinator::Preempt(const std::vector<sched::PendingJob>& queue, TimeMs now) {
  const bool by_priority = options_.preemption == "priority";
  struct Candidate {
    sched::OrderKey key;
    JobRecord* job;
  };
  std::vector<Candidate> queued;
  for (const sched::PendingJob& q : queue) {
    JobRecord* p = jobs_.Find(q.id);
    if (!p || p->state != JobState::kPending || p->counts.active > 0 || p->pending_tasks.empty() ||
        p->spec->gang || !p->pinned_node.empty() || p->held_ms > 0)
      continue;
    if (now - p->submit_ms < options_.preempt_after_ms) continue;
    // Under srtf the job's own prediction decides, and a user could claim a short one: only a
    // job with a time limit preempts, so that a false claim is stopped at that limit.
    if (options_.preemption == "srtf" && p->spec->time_limit_ms <= 0) continue;
    // Room comes in time without stopping anyone, or there is no prediction to judge by (a job
    // beyond the predicted part of the queue).
    if (p->predicted_start_ms <= now + options_.preempt_after_ms) continue;
    // srtf: the pass ordered it by its time left, in its predicted duration.
    queued.push_back({options_.preemption == "srtf"
                          ? sched::OrderKey{q.predicted_duration_ms, p->submit_ms, p->id}
                          : PreemptionKey(*p, nullptr, q.predicted_duration_ms, now),
                      p});
  }
  std::sort(queued.begin(), queued.end(),
            [](const Candidate& a, const Candidate& b) { return a.key < b.key; });
  for (const Candidate& c : queued) {
    JobRecord* p = c.job;
    if (!p->pinned_node.empty()) continue;  // pinned by a preemption of this very call
    const ResourceRequest& r = p->spec->resources;
    struct Victim {
      JobRecord* job;
      TaskRecord* task;
      std::vector<int> gpus;
      sched::OrderKey key;
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
        // Running ones only: a launching task may not have been sent yet (this pass's own).
        if (!t || t->state != TaskState::kRunning || t->stop_requested || j->spec->gang ||
            !j->migrate_reason.empty())
          continue;
        const sched::OrderKey k = PreemptionKey(*j, t, 0, now);
        if (by_priority ? j->spec->priority >= p->spec->priority : !sched::MayPreempt(k, c.key))
          continue;
        candidates.push_back({j, t, gpus, k});
      }
      std::sort(candidates.begin(), candidates.end(), [](const Victim& a, const Victim& b) {
        return std::make_tuple(!a.job->spec->checkpointable, -a.key.key, -a.task->start_ms) <
               std::make_tuple(!b.job->spec->checkpointable, -b.key.key, -b.task->start_ms);
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
    const std::string why =
        "preempted by job " + std::to_string(p->id) +
        (by_priority ? " (priority " + std::to_string(p->spec->priority) + ")"
                     : " (" + options_.preemption + " order)");
    for (Victim& v : best) {
      JobRecord& j = *v.job;
      spdlog::info("job {} task {} on {} preempted by job {}", j.id, v.task->index, best_node,
                   p->id);
      if (j.spec->cancel_on_preempt) {  // ends cancelled when its agent reports the end
        SendKill(v.task->node, j.id, *v.task, options_.kill_grace_ms, "preempt");
        v.task->stop_requested = true;
        preempt_cancels_[TaskRef{j.id, v.task->index}] = why;
        AddHistory(j, "task " + TaskRef{j.id, v.task->index}.ToString() + " cancelled: " + why +
                          " on " + best_node + " at " + UtcTime(now) + " (--on-preempt cancel)");
        continue;
      }
      if (j.migrate_reason.empty()) {
        j.migrate_reason = why;
        store_->UpdatePin(j);
        AddHistory(j, why + " on " + best_node + " at " + UtcTime(now));
      }
      StopToMove(j, *v.task, "preempt");
    }
    p->pinned_node = best_node;
    p->pin_expires_ms = now + options_.kill_grace_ms + options_.pin_timeout_ms;
    pinned_.insert(p->id);
    store_->UpdatePin(*p);
    AddHistory(*p, "preempting " + std::to_string(best.size()) + " task(s) on " + best_node +
                       " at " + UtcTime(now) + " (" + options_.preemption + " order)");
    Audit(Caller{.name = "scheduler", .role = Role::kAdmin, .via = "internal"}, "preempt",
          "job " + std::to_string(p->id) + " on " + best_node, Status::Ok());
  }
}

}  // namespace muster::cluster
