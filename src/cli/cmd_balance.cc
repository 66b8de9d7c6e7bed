// `muster balance`: the coordinator's load balancer as it stands (GetBalance): mode and
// hysteresis, node and GPU loads, the balance metrics (Jain, CoV, lambda, relative imbalance)
// with their recent trend, the moves of the last evaluation with their outcome and the rules'
// notes, and the recent applied/dropped moves. `-o json` prints the BalanceStatus message as JSON
// (protobuf's mapping, field names in lowerCamelCase).
// Also holds the pieces `muster top` shares (FetchBalance, FormatBalanceView).
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"

namespace muster::cli {

// GetBalance from the coordinator named by `flags`; errors mapped like the other client calls.
Result<v1::BalanceStatus> FetchBalance(const ClientFlags& flags, int trend_points) {
  return MakeClient(flags).GetBalance(trend_points);
}

namespace {

std::string Fixed(double v, int digits = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// One character per value, ' ' (low) .. '#' (high), scaled to [lo, hi].
std::string Spark(const std::vector<double>& v, double lo, double hi) {
  static const char kLevels[] = " .:-=+*%#";
  std::string out;
  for (double x : v) {
    double f = hi > lo ? (x - lo) / (hi - lo) : 0.5;
    int i = static_cast<int>(std::clamp(f, 0.0, 1.0) * 8 + 0.5);
    out += kLevels[i];
  }
  return out;
}

std::string Arrow(const std::vector<double>& v) {
  if (v.size() < 2) return "";
  // Changes below 0.1% of the larger value (or 1e-6) count as steady.
  double d = v.back() - v[v.size() - 2];
  double eps = std::max(1e-6, 1e-3 * std::max(std::abs(v.back()), std::abs(v[v.size() - 2])));
  return d > eps ? " (rising)" : d < -eps ? " (falling)" : " (steady)";
}

}  // namespace

// The human-readable view; `bar_width` > 0 adds load bars (used by `muster top`).
std::string FormatBalanceView(const v1::BalanceStatus& st, int bar_width) {
  std::string o;
  o += "balancer " + st.mode() + "  period " + client::FormatDurationShort(st.period_ms()) +
       "  threshold " + Fixed(st.threshold(), 2) + "  k " + std::to_string(st.k()) + "  streak " +
       std::to_string(st.streak()) + (st.armed() ? " (armed)" : "") + "  evaluated " +
       client::FormatRelative(st.evaluated_ms(), st.now_ms()) + "\n";
  o += "queue " + std::to_string(st.queue_length()) + " pending tasks, " +
       std::to_string(st.running_tasks()) + " running tasks in " +
       std::to_string(st.running_jobs()) + " jobs\n\n";
  if (st.evaluated_ms() == 0) {
    o += "no evaluation yet (the first comes one balance period after a node registers)\n";
    return o;
  }
  std::vector<std::string> head = {"NODE", "LOAD", "PREDICTED", "MEASURED", "GPU LOADS"};
  if (bar_width > 0) head.insert(head.begin() + 1, "");
  client::TextTable t(head);
  for (const auto& n : st.node_loads()) {
    std::string gpus;
    for (const auto& g : st.gpu_loads())
      if (g.node() == n.node()) gpus += (gpus.empty() ? "" : " ") + Fixed(g.load(), 2);
    std::vector<std::string> row = {n.node(), Fixed(n.load(), 2), Fixed(n.predicted(), 2),
                                    n.measured() < 0 ? "-" : Fixed(n.measured(), 2),
                                    gpus.empty() ? "-" : gpus};
    if (bar_width > 0) row.insert(row.begin() + 1, client::ProgressBar(n.load(), bar_width));
    t.AddRow(row);
  }
  o += t.Render() + "\n";
  std::vector<double> jain, lambda, cov, rel;
  for (const auto& p : st.trend()) {
    jain.push_back(p.nodes().jain());
    lambda.push_back(p.nodes().imbalance_factor());
    cov.push_back(p.nodes().cov());
    rel.push_back(p.nodes().relative_imbalance());
  }
  auto hi = [](const std::vector<double>& v) {
    return v.empty() ? 1.0 : std::max(1e-9, *std::max_element(v.begin(), v.end()));
  };
  client::TextTable m({"METRIC", "NODES", "GPUS", "TREND (nodes, oldest first)"});
  m.AddRow(
      {"jain", Fixed(st.nodes().jain()), Fixed(st.gpus().jain()), Spark(jain, 0, 1) + Arrow(jain)});
  m.AddRow({"imbalance (lambda)", Fixed(st.nodes().imbalance_factor()),
            Fixed(st.gpus().imbalance_factor()), Spark(lambda, 0, hi(lambda)) + Arrow(lambda)});
  m.AddRow({"cov", Fixed(st.nodes().cov()), Fixed(st.gpus().cov()),
            Spark(cov, 0, hi(cov)) + Arrow(cov)});
  m.AddRow({"relative imbalance", Fixed(st.nodes().relative_imbalance()),
            Fixed(st.gpus().relative_imbalance()), Spark(rel, 0, 1) + Arrow(rel)});
  o += m.Render() + "\n";
  if (st.moves_size() == 0) {
    o += "moves: none\n";
  } else {
    o += "moves (last evaluation):\n";
    for (const auto& mv : st.moves())  // the text already says "[dry-run]" for dry-run moves
      o += "  " + mv.text() + (mv.outcome() == "dry-run" ? "" : "  [" + mv.outcome() + "]") + "\n";
  }
  for (const auto& n : st.notes()) o += "  note: " + n + "\n";
  if (st.recent_moves_size() > 0) {
    o += "recent moves:\n";
    int first = std::max(0, st.recent_moves_size() - 5);
    for (int i = first; i < st.recent_moves_size(); ++i) {
      const auto& mv = st.recent_moves(i);
      o += "  " + client::FormatRelative(mv.time_ms(), st.now_ms()) + ": " + mv.text() + "  [" +
           mv.outcome() + "]\n";
    }
  }
  return o;
}

namespace {

int RunBalance(const ClientFlags& f, int trend) {
  auto st = FetchBalance(f, trend);
  if (!st.ok()) return ReportError(st.status());
  if (f.json()) {
    std::cout << client::ProtoToJson(*st).dump(2) << std::endl;
    return kExitOk;
  }
  std::cout << FormatBalanceView(*st, 0);
  return kExitOk;
}

}  // namespace

void AddBalanceCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<ClientFlags>();
  auto trend = std::make_shared<int>(20);
  auto* cmd = app.add_subcommand(
      "balance", "Show the load balancer: loads, balance metrics and trend, moves and why");
  AddClientFlags(*cmd, *f);
  cmd->add_option("--trend", *trend, "Evaluations to show in the trend (0 = all kept)")
      ->capture_default_str();
  cmd->callback([f, trend, &ctx] { ctx.exit_code = RunBalance(*f, *trend); });
}

}  // namespace muster::cli
