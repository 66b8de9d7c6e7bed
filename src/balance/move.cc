#include "balance/move.h"

#include <cmath>
#include <cstdio>

#include "model/exec_time.h"

namespace muster::balance {

const char* MoveKindName(MoveKind k) {
  switch (k) {
    case MoveKind::kMigrate:
      return "migrate";
    case MoveKind::kSteal:
      return "steal";
    case MoveKind::kRetarget:
      return "retarget";
  }
  return "unknown";
}

namespace {

std::string NodeName(int node, const std::vector<std::string>& names) {
  if (node < 0) return "queue";
  if (node < static_cast<int>(names.size())) return names[node];
  return "node#" + std::to_string(node);
}

}  // namespace

std::string Move::ToString(const std::vector<std::string>& node_names) const {
  std::string t;
  for (size_t i = 0; i < tasks.size(); ++i) t += (i ? "," : "") + std::to_string(tasks[i]);
  char nums[96];
  std::snprintf(nums, sizeof nums, "(gain %.1fs, cost %.1fs)", gain_s, cost_s);
  return std::string(MoveKindName(kind)) + " job " + std::to_string(job) + " [" + t + "] " +
         NodeName(from_node, node_names) + " -> " + NodeName(to_node, node_names) + " " + nums +
         (apply ? "" : " [dry-run]") + ": " + reason;
}

Result<MoveCostEstimate> EstimateMoveCost(double checkpoint_bytes, double alpha_s,
                                          double bandwidth_bytes_per_s, double restart_s) {
  if (!(restart_s >= 0) || !std::isfinite(restart_s))
    return Status::InvalidArgument("restart time must be finite and >= 0");
  model::SoundExecInput in;
  in.work = 0;
  in.alpha_s = alpha_s;
  in.bandwidth_bytes_per_s = bandwidth_bytes_per_s;
  in.transfer_bytes = {checkpoint_bytes};
  auto one = model::SoundExecTime(in);
  if (!one.ok()) return Status::InvalidArgument("checkpoint cost: " + one.status().message());
  MoveCostEstimate e;
  e.checkpoint_s = one->total_s;           // write
  e.restart_s = one->total_s + restart_s;  // read back, then start
  e.lost_work_s = 0;
  return e;
}

}  // namespace muster::balance
