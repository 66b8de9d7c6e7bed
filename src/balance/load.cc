#include "balance/load.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "balance/room.h"

namespace muster::balance {

namespace {

bool ValidReading(double v) {
  return v == -1 || (std::isfinite(v) && v >= 0 && v <= 1);
}

double Blend(double predicted, double measured, double w) {
  return measured >= 0 ? (1 - w) * predicted + w * measured : predicted;
}

}  // namespace

const NodeUsage& MeasuredUsage::For(int node) const {
  static const NodeUsage kUnknown;
  if (node < 0 || node >= static_cast<int>(nodes.size())) return kUnknown;
  return nodes[node];
}

Status ValidateLoadInput(const sched::ClusterSnapshot& snapshot, const MeasuredUsage& usage,
                         const LoadOptions& options) {
  if (options.horizon_ms <= 0) return Status::InvalidArgument("load horizon must be > 0 ms");
  if (!(options.measured_weight >= 0 && options.measured_weight <= 1))
    return Status::InvalidArgument("measured_weight must be in [0, 1]");
  if (usage.nodes.size() > snapshot.nodes.size())
    return Status::InvalidArgument("usage has " + std::to_string(usage.nodes.size()) +
                                   " nodes, the snapshot " + std::to_string(snapshot.nodes.size()));
  for (size_t i = 0; i < usage.nodes.size(); ++i) {
    const NodeUsage& u = usage.nodes[i];
    const std::string where = "usage of node " + snapshot.nodes[i].spec.name;
    if (!ValidReading(u.utilization))
      return Status::InvalidArgument(where + ": utilization must be in [0, 1] or -1");
    if (!(std::isfinite(u.speed_factor) && u.speed_factor > 0))
      return Status::InvalidArgument(where + ": speed_factor must be > 0");
    if (u.gpu_utilization.size() > snapshot.nodes[i].spec.gpus.size())
      return Status::InvalidArgument(where + ": more GPU readings than GPUs");
    for (double g : u.gpu_utilization)
      if (!ValidReading(g))
        return Status::InvalidArgument(where + ": GPU utilization must be in [0, 1] or -1");
  }
  return Status::Ok();
}

Result<BalanceEvaluation> EvaluateAt(const sched::ClusterSnapshot& snapshot,
                                     const MeasuredUsage& usage, const LoadOptions& options,
                                     TimeMs now) {
  if (Status st = ValidateLoadInput(snapshot, usage, options); !st.ok()) return st;
  const int n = static_cast<int>(snapshot.nodes.size());
  const double horizon = static_cast<double>(options.horizon_ms);
  const double w = options.measured_weight;

  std::vector<double> node_pred(n, 0.0);
  std::vector<std::vector<double>> gpu_pred(n);
  for (int i = 0; i < n; ++i) gpu_pred[i].assign(snapshot.nodes[i].spec.gpus.size(), 0.0);

  for (const auto& t : snapshot.running) {
    if (t.node < 0 || t.node >= n) continue;
    const auto& spec = snapshot.nodes[t.node].spec;
    const double busy =
        std::min(RemainingMs(t, now) / usage.For(t.node).speed_factor, horizon) / horizon;
    double share = 0;
    if (!spec.gpus.empty()) {
      share = static_cast<double>(t.gpus.size()) / static_cast<double>(spec.gpus.size());
    } else if (spec.milli_cpus > 0) {
      share = static_cast<double>(t.resources.milli_cpus) / static_cast<double>(spec.milli_cpus);
    }
    node_pred[t.node] += share * busy;
    for (int g : t.gpus)
      if (g >= 0 && g < static_cast<int>(gpu_pred[t.node].size()))
        gpu_pred[t.node][g] = std::max(gpu_pred[t.node][g], busy);
  }

  BalanceEvaluation ev;
  for (int i = 0; i < n; ++i) {
    if (snapshot.nodes[i].state != NodeState::kReady) continue;
    const NodeUsage& u = usage.For(i);
    double gsum = 0;
    int gknown = 0;
    for (size_t g = 0; g < gpu_pred[i].size(); ++g) {
      const double m = g < u.gpu_utilization.size() ? u.gpu_utilization[g] : -1;
      if (m >= 0) {
        gsum += m;
        ++gknown;
      }
      ev.gpu_loads.push_back(
          {i, static_cast<int>(g), gpu_pred[i][g], m, Blend(gpu_pred[i][g], m, w)});
    }
    const double measured = gknown > 0 ? gsum / gknown : u.utilization;
    ev.node_loads.push_back({i, -1, node_pred[i], measured, Blend(node_pred[i], measured, w)});
  }

  std::vector<double> loads;
  for (const auto& s : ev.node_loads) loads.push_back(s.load);
  ev.nodes = model::Evaluate(loads);
  loads.clear();
  for (const auto& s : ev.gpu_loads) loads.push_back(s.load);
  ev.gpus = model::Evaluate(loads);
  return ev;
}

Result<BalanceEvaluation> Evaluate(const sched::ClusterSnapshot& snapshot,
                                   const MeasuredUsage& usage, const LoadOptions& options) {
  return EvaluateAt(snapshot, usage, options, snapshot.now_ms);
}

}  // namespace muster::balance
