// `muster schedule`: offline scheduling of an ETC matrix with the batch heuristics (--etc) or of a
// task graph with HEFT (--dag), printing makespan, per-machine load and balance metrics (and the
// schedule table); without --etc/--dag it shows the running cluster's schedule table.
// Files are read here; the algorithms (sched/etc_*.h, sched/heft.h) are pure.
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cluster/coordinator/server.h"
#include "model/balance.h"
#include "sched/etc_heuristics.h"
#include "sched/heft.h"

namespace muster::cli {
namespace {

using nlohmann::json;

struct ScheduleFlags {
  std::string etc_path;
  std::string dag_path;
  std::string heuristic = "minmin";
  std::string output = "table";
  std::string coordinator;
  std::string state_dir;
  uint64_t seed = 1;
  int iterations = sched::TabuOptions{}.max_iterations;
  double time_limit_s = 2.5;  // memetic
  double best_known = 0;
  bool show_table = false;
  bool include_finished = false;
  bool accuracy = false;
  std::string since = "7d", job_class;
};

int Fail(const std::string& message) {
  std::fflush(stdout);
  std::cerr << "muster: " << message << std::endl;
  return kExitUsage;
}

std::string Num(double v, const char* fmt = "%.6g") {
  if (std::isnan(v)) return "undefined";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

json JsonNum(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(std::string("cannot read ") + what + " file '" + path +
                                   "': " + std::strerror(errno));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

json BalanceJson(const model::BalanceReport& r) {
  json j;
  for (const auto& [name, value] : model::MetricRows(r)) j[name] = JsonNum(value);
  return j;
}

void PrintBalance(const model::BalanceReport& r) {
  std::printf("balance: Jain %s, CoV %s, imbalance factor %s, relative imbalance %s, seed Bal %s\n",
              Num(r.jain, "%.4f").c_str(), Num(r.cov, "%.4f").c_str(),
              Num(r.imbalance_factor, "%.4f").c_str(), Num(r.relative_imbalance, "%.4f").c_str(),
              Num(r.seed_bal, "%.4g").c_str());
}

struct EtcRun {
  sched::EtcSchedule schedule;
  double seconds = 0;
};

Result<EtcRun> RunOne(const std::string& name, const sched::EtcMatrix& etc,
                      const ScheduleFlags& f) {
  const auto t0 = std::chrono::steady_clock::now();
  // The memetic search runs until its time limit (the clock's steady MonotonicMs).
  const cluster::WallClock steady;
  sched::MemeticOptions memetic;
  memetic.seed = f.seed;
  memetic.max_generations = 1 << 30;
  memetic.clock = &steady;
  memetic.time_budget_ms = static_cast<DurationMs>(f.time_limit_s * 1000);
  auto s = sched::RunEtcHeuristic(
      name, etc, sched::TabuOptions{.seed = f.seed, .max_iterations = f.iterations}, memetic);
  if (!s.ok()) return s.status();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return EtcRun{*std::move(s), secs};
}

std::string OverBest(double makespan, double best_known) {
  return best_known > 0 ? Num(100 * (makespan / best_known - 1), "%+.2f%%") : "";
}

int RunEtc(const ScheduleFlags& f) {
  auto text = ReadFile(f.etc_path, "ETC");
  if (!text.ok()) return Fail(text.status().message());
  auto etc = sched::ParseEtc(*text);
  if (!etc.ok()) return Fail(f.etc_path + ": " + etc.status().message());
  std::vector<std::string> names{f.heuristic};
  if (f.heuristic == "all") names = sched::EtcHeuristicNames();
  std::vector<EtcRun> runs;
  for (const auto& name : names) {
    auto run = RunOne(name, *etc, f);
    if (!run.ok()) return Fail(run.status().message());
    runs.push_back(*std::move(run));
  }
  const bool json_out = f.output == "json";
  if (runs.size() > 1) {  // comparison
    json j = json::array();
    if (!json_out) {
      std::printf("%s: %d tasks x %d machines\n", f.etc_path.c_str(), etc->tasks(),
                  etc->machines());
      std::printf("%-10s %14s %9s %16s %7s %7s %8s %9s\n", "heuristic", "makespan",
                  f.best_known > 0 ? "vs best" : "", "flowtime", "jain", "cov", "lambda", "time");
    }
    for (const auto& run : runs) {
      const auto& s = run.schedule;
      const auto r = model::Evaluate(s.machine_finish);
      if (json_out) {
        j.push_back({{"heuristic", s.heuristic},
                     {"makespan", s.makespan},
                     {"flowtime", s.flowtime},
                     {"seconds", run.seconds},
                     {"balance", BalanceJson(r)}});
      } else {
        std::printf("%-10s %14.1f %9s %16.1f %7.4f %7.4f %8.4f %8.3fs\n", s.heuristic.c_str(),
                    s.makespan, OverBest(s.makespan, f.best_known).c_str(), s.flowtime, r.jain,
                    r.cov, r.imbalance_factor, run.seconds);
      }
    }
    if (json_out) std::cout << json{{"etc", f.etc_path}, {"results", j}}.dump(2) << "\n";
    return kExitOk;
  }
  const auto& s = runs[0].schedule;
  const auto r = model::Evaluate(s.machine_finish);
  if (json_out) {
    json rows = json::array();
    for (const auto& a : s.rows) {
      rows.push_back(
          {{"task", a.task}, {"machine", a.machine}, {"start", a.start}, {"finish", a.finish}});
    }
    std::cout << json{{"etc", f.etc_path},          {"heuristic", s.heuristic},
                      {"makespan", s.makespan},     {"flowtime", s.flowtime},
                      {"seconds", runs[0].seconds}, {"machine_load", s.machine_finish},
                      {"balance", BalanceJson(r)},  {"schedule", rows}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::printf("%s: %d tasks x %d machines, heuristic %s\n", f.etc_path.c_str(), etc->tasks(),
              etc->machines(), s.heuristic.c_str());
  std::printf("makespan %.1f%s, flowtime %.1f, %.3f s\n", s.makespan,
              f.best_known > 0 ? (" (" + OverBest(s.makespan, f.best_known) + " vs best known " +
                                  Num(f.best_known, "%.1f") + ")")
                                     .c_str()
                               : "",
              s.flowtime, runs[0].seconds);
  std::printf("%-8s %8s %16s\n", "machine", "tasks", "load");
  std::vector<int> count(etc->machines(), 0);
  for (int m : s.machine_of) ++count[m];
  for (int m = 0; m < etc->machines(); ++m) {
    std::printf("%-8d %8d %16.1f\n", m, count[m], s.machine_finish[m]);
  }
  PrintBalance(r);
  if (f.show_table) {
    std::printf("%-6s %-8s %16s %16s\n", "task", "machine", "start", "finish");
    for (const auto& a : s.rows) {
      std::printf("%-6d %-8d %16.1f %16.1f\n", a.task, a.machine, a.start, a.finish);
    }
  }
  return kExitOk;
}

int RunDag(const ScheduleFlags& f) {
  auto text = ReadFile(f.dag_path, "DAG");
  if (!text.ok()) return Fail(text.status().message());
  auto dag = sched::ParseDag(*text);
  if (!dag.ok()) return Fail(f.dag_path + ": " + dag.status().message());
  auto s = sched::Heft(*dag);
  if (!s.ok()) return Fail(f.dag_path + ": " + s.status().message());
  const auto r = model::Evaluate(s->processor_busy);
  if (f.output == "json") {
    json rows = json::array();
    for (const auto& a : s->rows) {
      rows.push_back({{"task", dag->tasks[a.task].name},
                      {"processor", a.processor},
                      {"start", a.start},
                      {"finish", a.finish},
                      {"upward_rank", s->upward_rank[a.task]}});
    }
    std::cout << json{{"dag", f.dag_path},         {"heuristic", "heft"},
                      {"makespan", s->makespan},   {"processor_busy", s->processor_busy},
                      {"balance", BalanceJson(r)}, {"schedule", rows}}
                     .dump(2)
              << "\n";
    return kExitOk;
  }
  std::printf("%s: %zu tasks, %zu edges, %d processors, HEFT\n", f.dag_path.c_str(),
              dag->tasks.size(), dag->edges.size(), dag->processors);
  std::printf("makespan %s\n", Num(s->makespan).c_str());
  std::printf("%-12s %-10s %10s %10s %12s\n", "task", "processor", "start", "finish", "rank");
  for (const auto& a : s->rows) {
    std::printf("%-12s %-10d %10s %10s %12s\n", dag->tasks[a.task].name.c_str(), a.processor,
                Num(a.start).c_str(), Num(a.finish).c_str(),
                Num(s->upward_rank[a.task], "%.3f").c_str());
  }
  std::printf("%-10s %10s\n", "processor", "busy");
  for (int p = 0; p < dag->processors; ++p) {
    std::printf("%-10d %10s\n", p, Num(s->processor_busy[p]).c_str());
  }
  PrintBalance(r);
  return kExitOk;
}

int RunSchedule(const ScheduleFlags& f) {
  if (!f.etc_path.empty() && !f.dag_path.empty()) return Fail("give --etc or --dag, not both");
  if (!f.etc_path.empty()) {
    const auto names = sched::EtcHeuristicNames();
    if (f.heuristic != "all" && std::find(names.begin(), names.end(), f.heuristic) == names.end()) {
      std::string known;
      for (const auto& n : names) known += n + ", ";
      return Fail("unknown heuristic '" + f.heuristic + "' (known: " + known + "all)");
    }
    if (f.iterations < 0) return Fail("--iterations must be >= 0");
    if (!(f.time_limit_s > 0) || f.time_limit_s > 3600)
      return Fail("--time-limit must be more than 0 and at most 3600 seconds");
    return RunEtc(f);
  }
  if (!f.dag_path.empty()) return RunDag(f);
  if (f.accuracy)
    return ShowPredictionAccuracy(f.coordinator, f.state_dir, f.output == "json", f.since,
                                  f.job_class);
  return ShowClusterSchedule(f.coordinator, f.state_dir, f.output == "json", f.include_finished);
}

}  // namespace

void AddScheduleCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<ScheduleFlags>();
  CLI::App* cmd = app.add_subcommand(
      "schedule",
      "Schedule an ETC matrix (--etc) or a task graph (--dag) offline, or show the cluster's "
      "schedule table");
  cmd->add_option("--etc", f->etc_path,
                  "ETC matrix file (Braun format: '<tasks> <machines> 0', then values task-major)");
  cmd->add_option("--dag", f->dag_path, "task graph file for HEFT (see docs/dag-format.md)");
  cmd->add_option("--heuristic", f->heuristic,
                  "with --etc: olb, met, mct, minmin, maxmin, sufferage, tabu, memetic, or all to "
                  "compare")
      ->capture_default_str();
  cmd->add_option("--time-limit", f->time_limit_s, "memetic: seconds to search")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "tabu, memetic: random seed (tabu: same seed, same schedule)")
      ->capture_default_str();
  cmd->add_option("--iterations", f->iterations, "tabu: number of iterations")
      ->capture_default_str();
  cmd->add_option("--best-known", f->best_known,
                  "with --etc: best known makespan, to print the gap to it");
  cmd->add_flag("--table", f->show_table, "with --etc: also print the task schedule table");
  cmd->add_flag("--all", f->include_finished,
                "cluster table: include finished tasks, then busy time and balance per node");
  cmd->add_flag("--accuracy", f->accuracy,
                "cluster: how the predictions made at submit fared for the jobs that succeeded: "
                "run-time and start errors, bias, 90% interval coverage, per class");
  cmd->add_option("--since", f->since, "with --accuracy: jobs that ended within this (7d, 12h)")
      ->capture_default_str();
  cmd->add_option("--class", f->job_class, "with --accuracy: only this job class");
  cmd->add_option("--coordinator", f->coordinator,
                  "without --etc/--dag: coordinator address HOST:PORT (default: "
                  "$MUSTER_COORDINATOR, the state dir's, or 127.0.0.1:7070)");
  cmd->add_option("--state-dir", f->state_dir,
                  "without --etc/--dag: state dir of a coordinator on this machine (default: "
                  "$MUSTER_STATE_DIR or ~/.local/state/muster)");
  cmd->add_option("-o,--output", f->output, "output format: table or json")
      ->check(CLI::IsMember({"table", "json"}));
  cmd->callback([f, &ctx] { ctx.exit_code = RunSchedule(*f); });
}

}  // namespace muster::cli
