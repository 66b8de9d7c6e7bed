// Text and JSON forms of the statistics and results.
#include <cmath>
#include <cstdio>

#include "sim/io/report.h"

namespace muster::sim::io {

namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string Pad(const std::string& s, size_t w, bool right) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

double EventsPerSecond(const PolicyRun& r) {
  return r.cost.wall_s > 0 ? static_cast<double>(r.result.events) / r.cost.wall_s : 0;
}

nlohmann::json DistJson(const Distribution& d) {
  return {{"count", d.count}, {"mean", d.mean}, {"median", d.median},
          {"p95", d.p95},     {"p99", d.p99},   {"max", d.max}};
}

}  // namespace

std::string HumanSeconds(double s) {
  if (std::fabs(s) < 120) return Fmt("%.0f s", s);
  if (std::fabs(s) < 2 * 3600) return Fmt("%.1f min", s / 60);
  if (std::fabs(s) < 2 * 86400) return Fmt("%.1f h", s / 3600);
  return Fmt("%.1f d", s / 86400);
}

std::string FormatStats(const WorkloadStats& s, bool utc) {
  std::string out;
  out += "jobs:            " + std::to_string(s.jobs) + "\n";
  out += "users:           " + std::to_string(s.users) + "\n";
  out += "GPU-size mix:   ";
  for (const auto& [g, n] : s.gpu_mix)
    out += " " + std::to_string(g) + "x:" + std::to_string(n) + " (" +
           Fmt("%.1f", 100.0 * static_cast<double>(n) / static_cast<double>(s.jobs)) + "%)";
  out += "\n";
  out += "one-GPU jobs:    " + Fmt("%.1f%%", 100 * s.single_gpu_fraction) + "\n";
  out += "median duration: " + Fmt("%.0f s", s.median_duration_s) + "\n";
  out += "mean duration:   " + Fmt("%.0f s", s.mean_duration_s) + "\n";
  out += "GPU time:        " + Fmt("%.0f GPU-h", s.total_gpu_seconds / 3600) + "\n";
  double span = static_cast<double>(s.last_submit_ms - s.first_submit_ms) / 1000;
  if (utc)
    out += "time span:       " + FormatUtc(s.first_submit_ms) + " to " +
           FormatUtc(s.last_submit_ms) + " (" + HumanSeconds(span) + ")\n";
  else
    out += "time span:       " + Fmt("%.0f s", s.first_submit_ms / 1000.0) + " to " +
           Fmt("%.0f s", s.last_submit_ms / 1000.0) + " (" + HumanSeconds(span) + ")\n";
  return out;
}

nlohmann::json StatsJson(const WorkloadStats& s, bool utc) {
  nlohmann::json mix = nlohmann::json::object();
  for (const auto& [g, n] : s.gpu_mix) mix[std::to_string(g)] = n;
  nlohmann::json j = {{"jobs", s.jobs},
                      {"users", s.users},
                      {"gpu_mix", mix},
                      {"single_gpu_fraction", s.single_gpu_fraction},
                      {"median_duration_s", s.median_duration_s},
                      {"mean_duration_s", s.mean_duration_s},
                      {"total_gpu_seconds", s.total_gpu_seconds},
                      {"first_submit_s", s.first_submit_ms / 1000.0},
                      {"last_submit_s", s.last_submit_ms / 1000.0}};
  if (utc) {
    j["first_submit"] = FormatUtc(s.first_submit_ms);
    j["last_submit"] = FormatUtc(s.last_submit_ms);
  }
  return j;
}

std::string RunLabel(const SimResult& s) {
  std::string l = s.policy + (s.backfill ? "+bf" : "");
  if (s.balancer != "off") l += " bal=" + s.balancer;
  if (s.durations != "oracle") l += " dur=" + s.durations;
  return l;
}

namespace {

std::string Table(const std::vector<std::string>& head,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    w[c] = head[c].size();
    for (const auto& row : rows) w[c] = std::max(w[c], row[c].size());
  }
  std::string out;
  for (size_t c = 0; c < head.size(); ++c) out += (c ? "  " : "") + Pad(head[c], w[c], c > 0);
  out += "\n";
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) out += (c ? "  " : "") + Pad(row[c], w[c], c > 0);
    out += "\n";
  }
  return out;
}

}  // namespace

std::string BalancerTable(const std::vector<PolicyRun>& runs) {
  const std::vector<std::string> head = {"policy",   "balancer", "JCT mean",      "JCT p95",
                                         "makespan", "jain",     "migrations",    "started",
                                         "pinned",   "proposed", "overhead GPU-h"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const SimResult& s = r.result;
    rows.push_back({s.policy + (s.backfill ? "+bf" : ""), s.balancer, HumanSeconds(s.jct_s.mean),
                    HumanSeconds(s.jct_s.p95), HumanSeconds(s.makespan_s), Fmt("%.3f", s.mean_jain),
                    std::to_string(s.migrations), std::to_string(s.started_moves),
                    std::to_string(s.pinned_moves), std::to_string(s.proposed_moves),
                    Fmt("%.2f", s.migration_overhead_gpu_seconds / 3600.0)});
  }
  return Table(head, rows);
}

nlohmann::json PredictionJson(const PredictionReport& p) {
  auto figures = [](const model::Accuracy& a, bool interval) {
    nlohmann::json j = {
        {"runtime_rel_error", {{"median", a.runtime_rel_error.median}, {"p90", a.runtime_rel_error.p90}}},
        {"start_error_s", {{"median", a.start_error_s.median}, {"p90", a.start_error_s.p90}}},
        {"bias", a.bias},
        {"interval90_coverage", interval ? nlohmann::json(a.interval_coverage) : nlohmann::json()},
        {"jobs", a.runtime_rel_error.n},
        {"start_jobs", a.start_error_s.n}};
    return j;
  };
  if (p.predictors.empty()) return nullptr;
  nlohmann::json j = figures(p.predictors.front().overall, true);
  nlohmann::json baselines = nlohmann::json::object();
  for (size_t i = 1; i < p.predictors.size(); ++i)
    baselines[p.predictors[i].name] = figures(p.predictors[i].overall, false);
  j["baselines"] = std::move(baselines);
  j["predicted_jobs"] = p.predicted_jobs;
  j["unprojected_jobs"] = p.unprojected_jobs;
  return j;
}

std::string PredictionTable(const std::vector<PolicyRun>& runs) {
  const std::vector<std::string> head = {"policy",     "predictor",  "jobs",      "run err med",
                                         "run err p90", "bias",      "start err med",
                                         "start err p90", "90% cover"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    if (!r.result.prediction) continue;
    for (const auto& p : r.result.prediction->predictors) {
      const model::Accuracy& a = p.overall;
      rows.push_back({RunLabel(r.result), p.name, std::to_string(a.runtime_rel_error.n),
                      Fmt("%.1f%%", 100 * a.runtime_rel_error.median),
                      Fmt("%.0f%%", 100 * a.runtime_rel_error.p90), Fmt("%+.1f%%", 100 * a.bias),
                      HumanSeconds(a.start_error_s.median), HumanSeconds(a.start_error_s.p90),
                      p.name == "muster" ? Fmt("%.1f%%", 100 * a.interval_coverage) : "-"});
    }
  }
  return Table(head, rows);
}

std::string ComparisonTable(const std::vector<PolicyRun>& runs) {
  const std::vector<std::string> head = {"policy",  "jobs",      "JCT mean", "JCT med",  "JCT p95",
                                         "JCT p99", "wait mean", "wait p95", "makespan", "util",
                                         "jain",    "preempt",   "wall s",   "events/s"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const SimResult& s = r.result;
    rows.push_back({RunLabel(s), std::to_string(s.completed), HumanSeconds(s.jct_s.mean),
                    HumanSeconds(s.jct_s.median), HumanSeconds(s.jct_s.p95),
                    HumanSeconds(s.jct_s.p99), HumanSeconds(s.queue_delay_s.mean),
                    HumanSeconds(s.queue_delay_s.p95), HumanSeconds(s.makespan_s),
                    Fmt("%.1f%%", 100 * s.utilization), Fmt("%.3f", s.mean_jain),
                    std::to_string(s.preemptions), Fmt("%.2f", r.cost.wall_s),
                    Fmt("%.0f", EventsPerSecond(r))});
  }
  return Table(head, rows);
}

nlohmann::json RunJson(const PolicyRun& run, bool with_series) {
  const SimResult& s = run.result;
  nlohmann::json j = {{"policy", s.policy},
                      {"backfill", s.backfill},
                      {"durations", s.durations},
                      {"total_gpus", s.total_gpus},
                      {"jobs", s.jobs},
                      {"completed", s.completed},
                      {"rejected", s.rejected},
                      {"unfinished", s.unfinished},
                      {"jct_s", DistJson(s.jct_s)},
                      {"queue_delay_s", DistJson(s.queue_delay_s)},
                      {"makespan_s", s.makespan_s},
                      {"busy_gpu_seconds", s.busy_gpu_seconds},
                      {"utilization", s.utilization},
                      {"mean_jain", s.mean_jain},
                      {"preemptions", s.preemptions},
                      {"multi_node_jobs", s.multi_node_jobs},
                      {"events", s.events},
                      {"scheduler_passes", s.passes},
                      {"skipped_passes", s.skipped_passes},
                      {"max_queue", s.max_queue},
                      {"wall_s", run.cost.wall_s},
                      {"events_per_s", EventsPerSecond(run)},
                      {"peak_rss_mib", run.cost.peak_rss_mib},
                      {"balancer",
                       {{"mode", s.balancer},
                        {"periods", s.balance_periods},
                        {"migrations", s.migrations},
                        {"started_moves", s.started_moves},
                        {"pinned_moves", s.pinned_moves},
                        {"dropped_moves", s.dropped_moves},
                        {"proposed_moves", s.proposed_moves},
                        {"migration_overhead_gpu_seconds", s.migration_overhead_gpu_seconds}}}};
  if (s.prediction) j["prediction"] = PredictionJson(*s.prediction);
  if (with_series) {
    nlohmann::json series = nlohmann::json::array();
    for (const auto& p : s.series)
      series.push_back({{"t_s", p.t_s},
                        {"busy_gpus", p.busy_gpus},
                        {"queued_jobs", p.queued_jobs},
                        {"jain", p.jain}});
    j["series_width_s"] = s.series_width_ms / 1000.0;
    j["series"] = std::move(series);
    nlohmann::json cdf = nlohmann::json::array();
    for (const auto& [x, f] : s.jct_cdf) cdf.push_back({x, f});
    j["jct_cdf"] = std::move(cdf);
  }
  return j;
}

nlohmann::json ReportJson(const ReportInput& in, bool with_series) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : in.runs) runs.push_back(RunJson(r, with_series));
  return {{"title", in.title},
          {"command", in.command},
          {"cluster", in.cluster},
          {"workload", StatsJson(in.stats, in.utc_times)},
          {"runs", std::move(runs)}};
}

}  // namespace muster::sim::io
