// The simulator's policy layer: which queue policy sched::Schedule runs for each simulator
// policy, the key that orders the simulator's queue (for the capped queue view, see engine.h), and
// the preemption decisions of the preemptive policies. Placement is always sched::Schedule's.
//
//   fifo, priority, sjf, fairshare  -> the scheduler's policy of that name; no preemption.
//   srtf  shortest remaining time first, preemptive: the scheduler runs "sjf" with each queued
//         job's predicted duration set to its remaining (oracle) time; a queued job may preempt
//         running jobs that come strictly after it in that order (longer remaining time; ties
//         by submit time, then id).
//   las   Tiresias-style discretized two-dimensional least attained service: attained service is
//         GPUs x seconds run; thresholds split jobs into levels (queue 0 below the first
//         threshold, ...); the scheduler runs the "las" queue policy (sched/queue_las.h,
//         registered by the simulator with its thresholds), which orders by level and then by
//         submit time (FIFO within a level, as in Tiresias). A queued job may preempt running
//         jobs that come strictly after it in that order (a higher level, or the same level and
//         a later submission, as when Tiresias re-sorts all jobs); a running job that crosses a
//         threshold is demoted at that instant. No run-time knowledge is used for ordering.
//         (Tiresias's starvation guard, promotion after a long wait, is not modelled.)
// Preempting a job frees all its GPUs at once; it keeps its attained service and remaining work
// and later resumes with no restart overhead.
// Pure: no I/O.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sched/preemption_order.h"

namespace muster::sim {

enum class PolicyKind { kFifo, kPriority, kSjf, kFairshare, kSrtf, kLas };

struct SimPolicy {
  PolicyKind kind = PolicyKind::kFifo;
  std::string name;
  std::string scheduler_policy;  // the sched::SchedulerConfig::queue_policy it runs
  bool preemptive = false;
};

// Names accepted by ResolvePolicy, in display order.
std::vector<std::string> SimPolicyNames();
// The policy called `name`; kInvalidArgument naming the choices otherwise.
Result<SimPolicy> ResolvePolicy(const std::string& name);

// A job's place in the preemption order: smaller keys run first (key, then submit, then id);
// the order of srtf and las is the coordinator's too (sched/preemption_order.h).
using OrderKey = sched::OrderKey;

struct PreemptionCandidate {
  OrderKey order;
  int gpus = 0;
};

// Running jobs to preempt so that queued jobs (given best first) can start: walks the queue,
// letting each job use the free GPUs, else the GPUs of running jobs with strictly larger keys
// (largest first); stops at the first job that cannot be served. Victims whose GPUs turn out to
// be spare are kept running. Returns indices into `running`.
std::vector<int> ChoosePreemptions(int free_gpus, const std::vector<PreemptionCandidate>& queued,
                                   const std::vector<PreemptionCandidate>& running);

// The same choice with both lists pulled on demand, so that a caller with ordered indexes pays
// only for the entries the walk reads: next_queued() and next_victim() return a pointer to the
// next candidate (queued best first; running worst first, as ChoosePreemptions would sort them)
// or nullptr at the end; a pointer must stay valid until the next call of the same function.
// Returns the victims as indices in the order next_victim produced them.
template <typename NextQueued, typename NextVictim>
std::vector<int> ChoosePreemptionsPulled(int free_gpus, NextQueued&& next_queued,
                                         NextVictim&& next_victim) {
  std::vector<PreemptionCandidate> pulled;  // victims produced so far, worst first
  bool drained = false;
  auto victim = [&](size_t i) -> const PreemptionCandidate* {
    while (i >= pulled.size() && !drained) {
      const PreemptionCandidate* v = next_victim();
      if (v == nullptr) {
        drained = true;
      } else {
        pulled.push_back(*v);
      }
    }
    return i < pulled.size() ? &pulled[i] : nullptr;
  };
  std::vector<int> victims;
  size_t next = 0;  // next candidate victim
  int free = free_gpus;
  for (const PreemptionCandidate* q = next_queued(); q != nullptr; q = next_queued()) {
    if (q->gpus <= free) {
      free -= q->gpus;
      continue;
    }
    size_t probe = next;
    int got = free;
    std::vector<int> tentative;
    for (const PreemptionCandidate* v = victim(probe);
         got < q->gpus && v != nullptr && v->order > q->order; v = victim(++probe)) {
      got += v->gpus;
      tentative.push_back(static_cast<int>(probe));
    }
    if (got < q->gpus) break;
    victims.insert(victims.end(), tentative.begin(), tentative.end());
    next = probe;
    free = got - q->gpus;
  }
  // Keep running any victim (best first) whose GPUs are left over anyway.
  std::vector<int> preempt;
  for (auto it = victims.rbegin(); it != victims.rend(); ++it) {
    if (pulled[*it].gpus <= free) {
      free -= pulled[*it].gpus;
    } else {
      preempt.push_back(*it);
    }
  }
  std::reverse(preempt.begin(), preempt.end());
  return preempt;
}

}  // namespace muster::sim
