#include "cluster/coordinator/launch_builder.h"

#include <algorithm>
#include <set>

namespace muster::cluster {

namespace {

// Device indices (GpuDevice::index) of GPU positions on `spec`; an unknown position passes as is.
std::vector<int> DeviceIds(const NodeSpec* spec, const std::vector<int>& positions) {
  std::vector<int> out;
  for (int g : positions) {
    const bool known = spec && g >= 0 && g < static_cast<int>(spec->gpus.size());
    out.push_back(known ? spec->gpus[static_cast<size_t>(g)].index : g);
  }
  return out;
}

std::string Join(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

}  // namespace

LaunchSpec BuildLaunch(const JobRecord& j, const TaskRecord& t,
                       const std::vector<const sched::Placement*>& start,
                       const LaunchContext& ctx) {
  const JobSpec& s = *j.spec;
  LaunchSpec l;
  l.job = j.id;
  l.task_index = t.index;
  l.attempt = t.attempt;
  l.command = s.command;
  l.workdir = s.workdir;
  l.user = s.user;
  l.allow_root = ctx.allow_root;
  const NodeRecord* here = ctx.node ? ctx.node(t.node) : nullptr;
  const NodeSpec* spec = here ? &here->spec : nullptr;
  l.gpus = DeviceIds(spec, t.gpus);
  l.log_limit_bytes = (s.log_limit_mib > 0 ? s.log_limit_mib : ctx.default_log_limit_mib) << 20;

  auto& env = l.env;
  for (const auto& [k, v] : s.env) env[k] = v;
  env["MUSTER_JOB_ID"] = std::to_string(j.id);
  env["MUSTER_TASK_INDEX"] = std::to_string(t.index);
  env["MUSTER_ATTEMPT"] = std::to_string(t.attempt);
  if (!s.env.count("MUSTER_CHECKPOINT_DIR")) {
    l.checkpoint_dir = ctx.checkpoint_root + "/" + std::to_string(j.id);
    env["MUSTER_CHECKPOINT_DIR"] = l.checkpoint_dir;
    // Why the task is being stopped, written by its agent just before the SIGTERM. Only in the
    // directory the coordinator assigned: a root agent writes nowhere a job names.
    l.stop_reason_file = l.checkpoint_dir + "/.stop-reason." + std::to_string(t.attempt);
    env["MUSTER_STOP_REASON_FILE"] = l.stop_reason_file;
  }
  l.time_limit_ms = s.time_limit_ms;
  // What the task asked for is what its cgroup lets it use (memory: when the job gave it).
  l.memory_bytes = s.memory_given ? s.resources.memory_mib << 20 : 0;
  l.milli_cpus = s.resources.milli_cpus;
  if (!s.output_pattern.empty() || !s.error_pattern.empty()) {
    const OutputNames names{.job = j.id, .task_index = t.index, .attempt = t.attempt,
                            .name = s.name, .user = s.user, .node = t.node};
    l.stdout_path = ExpandOutputPattern(s.output_pattern, names);
    l.stderr_path = s.error_pattern.empty() ? l.stdout_path
                                            : ExpandOutputPattern(s.error_pattern, names);
  }
  l.signal_grace_ms = s.signal_grace_ms > 0 ? s.signal_grace_ms : kDefaultSignalGraceMs;
  if (s.checkpointable) env["MUSTER_CHECKPOINTABLE"] = "1";
  if (!s.gang) {
    env["CUDA_VISIBLE_DEVICES"] = Join(l.gpus);
    return l;
  }

  // The rank fields come from the scheduler's placements.
  const sched::Placement* mine = nullptr;
  const sched::Placement* rank0 = nullptr;
  std::set<int> groups;
  std::vector<const sched::Placement*> local;
  for (const sched::Placement* p : start) {
    if (p->task.index == t.index) mine = p;
    if (p->gang_rank == 0) rank0 = p;
    groups.insert(p->group_rank);
    if (p->node_name == t.node) local.push_back(p);
  }
  if (rank0 == nullptr && !start.empty())  // rows without rank fields: the lowest task index
    rank0 = *std::min_element(start.begin(), start.end(), [](const auto* a, const auto* b) {
      return a->task.index < b->task.index;
    });
  std::sort(local.begin(), local.end(),
            [](const auto* a, const auto* b) { return a->local_rank < b->local_rank; });
  std::vector<int> local_gpus;
  for (const auto* p : local) local_gpus.insert(local_gpus.end(), p->gpus.begin(), p->gpus.end());
  const int rank = mine ? mine->gang_rank : t.index;
  const NodeRecord* master = rank0 && ctx.node ? ctx.node(rank0->node_name) : nullptr;
  env["CUDA_VISIBLE_DEVICES"] = Join(DeviceIds(spec, local_gpus));
  env["RANK"] = std::to_string(rank);
  env["LOCAL_RANK"] = std::to_string(mine ? mine->local_rank : 0);
  env["WORLD_SIZE"] = std::to_string(s.tasks);
  env["LOCAL_WORLD_SIZE"] = std::to_string(mine ? mine->local_world : 1);
  env["GROUP_RANK"] = std::to_string(mine ? mine->group_rank : 0);
  env["GROUP_WORLD_SIZE"] = std::to_string(std::max<size_t>(1, groups.size()));
  env["ROLE_NAME"] = "default";
  env["ROLE_RANK"] = env["RANK"];
  env["ROLE_WORLD_SIZE"] = env["WORLD_SIZE"];
  env["MASTER_ADDR"] = master && !master->address.empty() ? master->address : "127.0.0.1";
  const int span = std::max(1, ctx.master_port_span);
  env["MASTER_PORT"] =
      std::to_string(ctx.master_port_base + static_cast<int>((j.id * 97 + t.attempt * 31) % span));
  env["TORCHELASTIC_RUN_ID"] = "muster-" + std::to_string(j.id);
  env["TORCHELASTIC_RESTART_COUNT"] = std::to_string(t.retries + t.lost_requeues);
  env["TORCHELASTIC_MAX_RESTARTS"] = std::to_string(s.max_retries);
  if (!s.env.count("OMP_NUM_THREADS"))
    env["OMP_NUM_THREADS"] = std::to_string(std::max<int64_t>(1, s.resources.milli_cpus / 1000));
  return l;
}

}  // namespace muster::cluster
