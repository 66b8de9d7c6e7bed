// Small builders for scheduler tests: nodes with N identical GPUs and pending jobs.
#pragma once

#include <memory>
#include <string>

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

}  // namespace muster::sched::testing_util
