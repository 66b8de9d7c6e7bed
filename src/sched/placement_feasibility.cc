#include "sched/placement_feasibility.h"

#include <algorithm>
#include <limits>

#include "core/capacity.h"
#include "sched/filter_node_user.h"

namespace muster::sched {

void FeasibilityOracle::Rebind(const ClusterSnapshot& snapshot) {
  // The generation is remembered, not read through the old pointer: callers may reuse one
  // snapshot object for every pass.
  const uint64_t was = generation_;
  snapshot_ = &snapshot;
  generation_ = snapshot.nodes_generation;
  if (generation_ != 0 && generation_ == was) return;
  user_restricted_ = false;
  for (const auto& n : snapshot.nodes) user_restricted_ = user_restricted_ || !n.only_user.empty();
  memo_.clear();
  last_spec_.reset();
  last_ = nullptr;
}

Status FeasibilityOracle::Check(const PendingJob& job) {
  if (last_ != nullptr && job.spec == last_spec_ && job.pinned_node == last_pin_ &&
      job.pending_tasks.size() == last_tasks_)
    return *last_;
  const JobSpec& s = *job.spec;
  const ResourceRequest& r = s.resources;
  Key key{r.milli_cpus,
          r.memory_mib,
          r.gpus,
          r.min_gpu_memory_mib,
          r.gpu_model,
          s.gang,
          s.gang ? static_cast<int>(job.pending_tasks.size()) : 1,
          s.gang ? s.ranks_per_node : 0,
          job.pinned_node,
          user_restricted_ ? s.user : std::string()};
  auto it = memo_.find(key);
  if (it == memo_.end()) it = memo_.emplace(std::move(key), Compute(job)).first;
  last_spec_ = job.spec;
  last_pin_ = job.pinned_node;
  last_tasks_ = job.pending_tasks.size();
  last_ = &it->second;  // std::map nodes are stable
  return it->second;
}

int64_t FeasibilityOracle::IdleCapacity(const PendingJob& job, bool only_ready) const {
  const JobSpec& s = *job.spec;
  int64_t total = 0;
  for (size_t i = 0; i < snapshot_->nodes.size(); ++i) {
    if (job.pinned_node >= 0 && job.pinned_node != static_cast<int>(i)) continue;
    const NodeView& v = snapshot_->nodes[i];
    if (only_ready && v.state != NodeState::kReady) continue;
    if (!RunsUser(v, s.user)) continue;
    int k = IdleTasksThatFit(v.spec, s.resources);
    if (s.gang && s.ranks_per_node > 0) k = k >= s.ranks_per_node ? s.ranks_per_node : 0;
    total += k;
  }
  return total;
}

Status FeasibilityOracle::Compute(const PendingJob& job) const {
  const JobSpec& s = *job.spec;
  const int64_t need = s.gang ? static_cast<int64_t>(job.pending_tasks.size()) : 1;
  if (job.pinned_node >= static_cast<int>(snapshot_->nodes.size()))
    return Status::Infeasible("pinned to node index " + std::to_string(job.pinned_node) +
                              ", but the cluster has " + std::to_string(snapshot_->nodes.size()) +
                              " nodes");
  if (IdleCapacity(job, false) < need) return Status::Infeasible(InfeasibleMessage(job));
  if (IdleCapacity(job, true) < need)
    return Status::Unschedulable("fits only on nodes that are draining or lost; waiting for them");
  return Status::Ok();
}

std::string FeasibilityOracle::InfeasibleMessage(const PendingJob& job) const {
  const JobSpec& s = *job.spec;
  const ResourceRequest& r = s.resources;
  if (job.pinned_node >= 0) {
    const NodeSpec& p = snapshot_->nodes[job.pinned_node].spec;
    return "pinned to node " + p.name + ", which cannot hold " + r.ToString() +
           (s.gang ? " x " + std::to_string(job.pending_tasks.size()) + " ranks" : "");
  }
  std::string others;  // the single users of the nodes this job's user may not use
  bool any_allowed = false;
  for (const auto& n : snapshot_->nodes) {
    if (RunsUser(n, s.user))
      any_allowed = true;
    else if (others.find(n.only_user) == std::string::npos)
      others += (others.empty() ? "" : ", ") + n.only_user;
  }
  if (!any_allowed && !others.empty())
    return "no node runs " + s.user + "'s tasks: every agent runs as one user (" + others +
           "), not as root, and runs only that user's tasks";
  const NodeSpec* big = nullptr;
  for (const auto& n : snapshot_->nodes)
    if (RunsUser(n, s.user) &&
        (!big || std::tuple(n.spec.gpus.size(), n.spec.milli_cpus, n.spec.memory_mib) >
                     std::tuple(big->gpus.size(), big->milli_cpus, big->memory_mib)))
      big = &n.spec;
  if (big == nullptr) return "the cluster has no nodes";
  const std::string largest =
      "largest node " + big->name + " has " + FormatMilliCpus(big->milli_cpus) + " cpu, " +
      std::to_string(big->memory_mib) + "MiB, " + std::to_string(big->gpus.size()) + " gpus";
  bool one_fits = false;
  for (const auto& n : snapshot_->nodes)
    one_fits = one_fits || (RunsUser(n, s.user) && IdleTasksThatFit(n.spec, r) > 0);
  if (s.gang && one_fits) {
    std::string per_node =
        s.ranks_per_node > 0 ? " with " + std::to_string(s.ranks_per_node) + " per node" : "";
    return "gang needs " + std::to_string(job.pending_tasks.size()) + " ranks of " + r.ToString() +
           per_node + " at once; the idle cluster holds only " +
           std::to_string(IdleCapacity(job, false)) + "; " + largest;
  }
  std::string need;
  if (r.gpus > static_cast<int>(big->gpus.size()))
    need = std::to_string(r.gpus) + " gpus per task";
  else if (r.milli_cpus > big->milli_cpus)
    need = FormatMilliCpus(r.milli_cpus) + " cpu per task";
  else if (r.memory_mib > big->memory_mib)
    need = std::to_string(r.memory_mib) + "MiB memory per task";
  else
    need = r.ToString() + " per task (no node has enough matching GPUs)";
  return "needs " + need + "; " + largest;
}

}  // namespace muster::sched
