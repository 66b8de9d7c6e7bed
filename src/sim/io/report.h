// Report writers for `muster sim`: the --stats summary, the per-policy comparison table, JSON,
// and a self-contained HTML report (inline SVG plots, no scripts or external files, so it opens
// offline): CDF of job completion time, GPU utilization, queue length and Jain's index over time.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/engine.h"
#include "sim/workload.h"

namespace muster::sim::io {

// How one run went on the machine (measured by the caller, not by the pure engine).
struct RunCost {
  double wall_s = 0;
  double peak_rss_mib = 0;  // process peak resident set so far (getrusage)
};

struct PolicyRun {
  SimResult result;
  RunCost cost;
};

struct ReportInput {
  std::string title;    // e.g. "philly.csv on 250x8"
  std::string command;  // the command line, shown in the report
  std::string cluster;  // ClusterConfig::Describe()
  WorkloadStats stats;
  bool utc_times = false;  // format submit times as dates (Philly)
  std::vector<PolicyRun> runs;
};

// Multi-line text for --stats.
std::string FormatStats(const WorkloadStats& s, bool utc_times);
nlohmann::json StatsJson(const WorkloadStats& s, bool utc_times);

// One row per run: JCT mean/median/p95/p99, queueing delay, makespan, utilization, Jain,
// preemptions, wall time and events/s.
std::string ComparisonTable(const std::vector<PolicyRun>& runs);

// Balancer comparison, one row per run: policy, balancer mode, JCT mean and p95, makespan, mean
// Jain's index, migrations, other applied moves (started / pinned), migration overhead.
std::string BalancerTable(const std::vector<PolicyRun>& runs);

// With --predict, one row per run and predictor: run-time error (median, p90, bias), start-time
// error at submit (median, p90), and for muster the coverage of its 90% interval.
std::string PredictionTable(const std::vector<PolicyRun>& runs);
// The "prediction" object of a run's JSON: muster's figures, the baselines' under "baselines".
nlohmann::json PredictionJson(const PredictionReport& p);

// "fifo", "fifo+bf", "fifo+bf bal=on" (the balancer is named when it is not off).
std::string RunLabel(const SimResult& s);

nlohmann::json RunJson(const PolicyRun& run, bool with_series);
nlohmann::json ReportJson(const ReportInput& in, bool with_series);

// The HTML document.
std::string HtmlReport(const ReportInput& in);

// Writes report.html and report.json into `dir` (created if missing).
Status WriteReportDir(const std::string& dir, const ReportInput& in);

// "1.2 h", "35 s", "4.1 d".
std::string HumanSeconds(double s);

}  // namespace muster::sim::io
