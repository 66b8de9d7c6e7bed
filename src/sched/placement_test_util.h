// Small builders for scheduler tests: nodes with N identical GPUs and pending jobs.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sched/plan.h"
#include "sched/snapshot.h"

namespace muster::sched::testing_util {

inline GpuDevice Gpu(int index, const std::string& model = "virtual", MiB mem = 16384) {
  return {index, model, mem, model == "virtual"};
}

inline ResourceRequest Req(MilliCpu cpu, MiB mem, int gpus, MiB min_gpu_mem = 0,
                           const std::string& model = "") {
  ResourceRequest r;
  r.milli_cpus = cpu;
  r.memory_mib = mem;
  r.gpus = gpus;
  r.min_gpu_memory_mib = min_gpu_mem;
  r.gpu_model = model;
  return r;
}

// A ready, idle node with `gpus` identical devices.
inline NodeView Node(const std::string& name, MilliCpu cpu, MiB mem, int gpus,
                     const std::string& model = "virtual", MiB gpu_mem = 16384,
                     double speed = 1.0) {
  NodeView v;
  v.spec.name = name;
  v.spec.milli_cpus = cpu;
  v.spec.memory_mib = mem;
  v.spec.speed = speed;
  for (int i = 0; i < gpus; ++i) v.spec.gpus.push_back(Gpu(i, model, gpu_mem));
  v.free = NodeFree::AllFree(v.spec);
  return v;
}

// A pending job with `tasks` tasks (indices 0..tasks-1), submitted at time id.
inline PendingJob Job(JobId id, int tasks, ResourceRequest r, DurationMs duration,
                      bool gang = false) {
  auto spec = std::make_shared<JobSpec>();
  spec->name = "job" + std::to_string(id);
  spec->user = "u";
  spec->command = {"true"};
  spec->tasks = tasks;
  spec->gang = gang;
  spec->resources = r;
  PendingJob j;
  j.id = id;
  j.spec = spec;
  j.submitted_ms = id;
  for (int i = 0; i < tasks; ++i) j.pending_tasks.push_back(i);
  j.predicted_duration_ms = duration;
  return j;
}

// The job, owned by `user` instead.
inline PendingJob OwnedBy(PendingJob j, const std::string& user) {
  auto spec = std::make_shared<JobSpec>(*j.spec);
  spec->user = user;
  j.spec = std::move(spec);
  return j;
}

// Checks that no node is oversubscribed at any instant by the plan's rows (start_now and
// predicted) together with the snapshot's running tasks: CPU, memory and GPU count within what
// is free now plus what running tasks have released by then, and every GPU held by at most one
// task at a time (and only if free now or released by a running task). Rows are [start, finish).
// Returns "" if valid, else the first violation.
inline std::string CheckNoOversubscription(const ClusterSnapshot& s, const Plan& plan) {
  for (size_t n = 0; n < s.nodes.size(); ++n) {
    std::vector<const Placement*> rows;
    for (const auto& p : plan.placements)
      if (p.node == static_cast<int>(n) && p.predicted_finish_ms > p.predicted_start_ms)
        rows.push_back(&p);
    for (const auto& p : plan.placements)
      if (p.node < 0 || p.node >= static_cast<int>(s.nodes.size()))
        return "row " + p.task.ToString() + " on a node that does not exist";
    std::set<TimeMs> instants;
    for (auto* p : rows) instants.insert(p->predicted_start_ms);
    for (TimeMs t : instants) {
      MilliCpu cpu = s.nodes[n].free.milli_cpus;
      MiB mem = s.nodes[n].free.memory_mib;
      std::vector<bool> gpu_ok = s.nodes[n].free.gpu_free;
      gpu_ok.resize(s.nodes[n].spec.gpus.size(), false);
      for (const auto& r : s.running) {
        if (r.node != static_cast<int>(n) || std::max(r.predicted_finish_ms, s.now_ms) > t)
          continue;
        cpu += r.resources.milli_cpus;
        mem += r.resources.memory_mib;
        for (int g : r.gpus) gpu_ok[g] = true;
      }
      std::vector<int> holder(gpu_ok.size(), 0);
      for (auto* p : rows) {
        if (p->predicted_start_ms > t || p->predicted_finish_ms <= t) continue;
        cpu -= p->milli_cpus;
        mem -= p->memory_mib;
        for (int g : p->gpus) {
          if (g < 0 || g >= static_cast<int>(gpu_ok.size()) || !gpu_ok[g])
            return "node " + std::to_string(n) + " gpu " + std::to_string(g) + " not free for " +
                   p->task.ToString() + " at " + std::to_string(t);
          if (++holder[g] > 1)
            return "node " + std::to_string(n) + " gpu " + std::to_string(g) + " used twice at " +
                   std::to_string(t);
        }
      }
      if (cpu < 0 || mem < 0)
        return "node " + std::to_string(n) + " cpu/mem oversubscribed at " + std::to_string(t);
    }
  }
  return "";
}

}  // namespace muster::sched::testing_util
