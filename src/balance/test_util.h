// Builders for balancer tests: nodes, running tasks (debited from their node's free capacity)
// and pending jobs, on a snapshot whose clock the test sets.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "sched/snapshot.h"

namespace muster::balance::testing_util {

inline ResourceRequest Req(int gpus, MilliCpu cpu = 1000, MiB mem = 1024) {
  ResourceRequest r;
  r.milli_cpus = cpu;
  r.memory_mib = mem;
  r.gpus = gpus;
  return r;
}

// A ready, idle node with `gpus` identical virtual GPUs.
inline sched::NodeView Node(const std::string& name, int gpus, double speed = 1.0,
                            MilliCpu cpu = 16000, MiB mem = 64000) {
  sched::NodeView v;
  v.spec.name = name;
  v.spec.milli_cpus = cpu;
  v.spec.memory_mib = mem;
  v.spec.speed = speed;
  for (int i = 0; i < gpus; ++i) v.spec.gpus.push_back({i, "virtual", 16384, true});
  v.free = NodeFree::AllFree(v.spec);
  return v;
}

// Adds a running task of `job` on `node` holding `gpus` (local indices), finishing at `finish`.
inline void AddRunning(sched::ClusterSnapshot& s, JobId job, int index, int node,
                       std::vector<int> gpus, TimeMs finish, bool checkpointable = true,
                       MilliCpu cpu = 1000, MiB mem = 1024) {
  sched::RunningTask t;
  t.task = {job, index};
  t.node = node;
  t.gpus = gpus;
  t.resources = Req(static_cast<int>(gpus.size()), cpu, mem);
  t.started_ms = 0;
  t.predicted_finish_ms = finish;
  t.checkpointable = checkpointable;
  auto& f = s.nodes[node].free;
  f.milli_cpus -= cpu;
  f.memory_mib -= mem;
  for (int g : gpus) f.gpu_free[g] = false;
  s.running.push_back(std::move(t));
}

// A pending job with `tasks` tasks; an array job (indices 0..tasks-1) when `array`.
inline sched::PendingJob Pending(JobId id, int tasks, ResourceRequest r, DurationMs duration,
                                 bool gang = false, bool array = false, int ranks_per_node = 0) {
  auto spec = std::make_shared<JobSpec>();
  spec->name = "job" + std::to_string(id);
  spec->user = "u";
  spec->command = {"true"};
  spec->tasks = tasks;
  spec->gang = gang;
  spec->ranks_per_node = ranks_per_node;
  if (array) spec->array = {0, tasks - 1, 0};
  spec->resources = r;
  sched::PendingJob j;
  j.id = id;
  j.spec = spec;
  j.submitted_ms = id;
  for (int i = 0; i < tasks; ++i) j.pending_tasks.push_back(i);
  j.predicted_duration_ms = duration;
  return j;
}

inline BalancerConfig OnConfig(int k = 1, double threshold = 0.25) {
  BalancerConfig c;
  c.mode = BalancerMode::kOn;
  c.period_ms = 1000;
  c.threshold = threshold;
  c.consecutive_periods = k;
  c.default_move_cost = {30, 30, 0};
  return c;
}

inline int CountKind(const std::vector<Move>& moves, MoveKind k) {
  int n = 0;
  for (const auto& m : moves) n += m.kind == k ? 1 : 0;
  return n;
}

}  // namespace muster::balance::testing_util
