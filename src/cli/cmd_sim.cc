// `muster sim`: replays a GPU-cluster trace (or a generated workload) through the online
// scheduler on a virtual clock and reports JCT, queueing delay, makespan, utilization, Jain's
// index and preemptions; a comma list of policies runs each and prints a comparison table.
// --balancer off,on (a comma list of balancer modes) runs every policy with each mode on the same
// workload and cluster and prints the balancer comparison side by side.
// The engine is pure (src/sim); this file does the effects: reading files, wall-clock timing,
// peak memory (getrusage), printing and writing the report directory.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

#include "balance/balancer.h"
#include "cli/commands.h"
#include "sim/cluster_config.h"
#include "sim/engine.h"
#include "sim/generator.h"
#include "sim/io/report.h"
#include "sim/io/trace_reader.h"
#include "sim/policy.h"

namespace muster::cli {

namespace {

struct SimFlags {
  std::string trace;
  std::string format = "philly";
  std::string cluster;
  std::string cluster_file;
  std::string policies = "fifo";
  bool backfill = false;
  bool predict = false;
  std::string durations = "oracle";
  std::string placement = "consolidated";
  double slowdown = 1.0;
  bool single_node_jobs = false;
  int64_t seed = 1;
  std::string report_dir;
  std::string generate;
  bool stats = false;
  bool skip_bad_rows = false;
  std::string output = "text";
  int queue_view = 256;
  double pass_interval_s = 0;
  std::string las_thresholds = "3600,36000";
  std::string balancer = "off";
  std::string balance_period = "60s";
  double balance_threshold = 0.25;
  int balance_k = 3;
  std::string balance_window = "30m";
  std::string migration_cost = "60s";
  double checkpointable_fraction = -1;  // < 0: the trace's checkpointable column (else none)
  std::string command_line;
};

// ParseDurationMs (core/resources.h) into *out; false if malformed or negative.
bool ParseDurationMs(const std::string& text, DurationMs* out) {
  const DurationMs ms = muster::ParseDurationMs(text);
  if (ms < 0) return false;
  *out = ms;
  return true;
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

int Fail(const std::string& msg, int code = kExitUsage) {
  std::cerr << "muster sim: " << msg << "\n";
  return code;
}

// The options as a command line, for the report.
std::string CommandLine(const SimFlags& f) {
  std::string c = "muster sim";
  if (!f.trace.empty()) c += " --trace " + f.trace + " --format " + f.format;
  if (!f.generate.empty()) c += " --generate " + f.generate;
  if (!f.cluster.empty()) c += " --cluster " + f.cluster;
  if (!f.cluster_file.empty()) c += " --cluster-file " + f.cluster_file;
  c += " --policy " + f.policies;
  if (f.backfill) c += " --backfill";
  if (f.predict) c += " --predict";
  if (f.durations != "oracle") c += " --durations " + f.durations;
  if (f.single_node_jobs) c += " --single-node-jobs";
  std::ostringstream sd;
  sd << f.slowdown;
  c += " --placement " + f.placement + " --multi-node-slowdown " + sd.str();
  c += " --seed " + std::to_string(f.seed) + " --queue-view " + std::to_string(f.queue_view);
  if (f.pass_interval_s > 0) {
    std::ostringstream pi;
    pi << f.pass_interval_s;
    c += " --pass-interval " + pi.str();
  }
  if (f.policies.find("las") != std::string::npos) c += " --las-thresholds " + f.las_thresholds;
  if (f.skip_bad_rows) c += " --skip-bad-rows";
  if (f.balancer != "off") {
    std::ostringstream b;
    b << " --balancer " << f.balancer << " --balance-period " << f.balance_period
      << " --balance-threshold " << f.balance_threshold << " --balance-k " << f.balance_k
      << " --balance-window " << f.balance_window << " --migration-cost " << f.migration_cost;
    c += b.str();
  }
  if (f.checkpointable_fraction >= 0) {
    std::ostringstream cf;
    cf << f.checkpointable_fraction;
    c += " --checkpointable-fraction " + cf.str();
  }
  return c;
}

int RunSim(const SimFlags& f) {
  if (f.output != "text" && f.output != "json") return Fail("-o must be text or json");
  // Workload.
  sim::Workload workload;
  bool utc = false;
  std::string source;
  if (!f.generate.empty()) {
    if (!f.trace.empty()) return Fail("give --trace or --generate, not both");
    std::string spec = f.generate;
    if (spec.find("seed=") == std::string::npos) spec += ",seed=" + std::to_string(f.seed);
    auto g = sim::ParseGeneratorSpec(spec);
    if (!g.ok()) return Fail(g.status().message());
    workload = sim::Generate(*g);
    source = "generated(" + f.generate + ")";
  } else {
    if (f.trace.empty()) return Fail("give --trace FILE or --generate jobs=N,rate=R,seed=S");
    auto format = sim::io::ParseTraceFormat(f.format);
    if (!format.ok()) return Fail(format.status().message());
    auto read = sim::io::ReadTraceFile(f.trace, *format);
    if (!read.ok()) return Fail(read.status().message());
    if (!read->bad_rows.empty()) {
      const auto& bad = read->bad_rows;
      std::ostream& os = std::cerr;
      os << "muster sim: " << f.trace << ": " << bad.size() << " bad row"
         << (bad.size() == 1 ? "" : "s") << " of " << read->rows << ":\n";
      for (size_t i = 0; i < bad.size() && i < 10; ++i)
        os << "  line " << bad[i].line << ": " << bad[i].why << "\n";
      if (bad.size() > 10) os << "  ... and " << bad.size() - 10 << " more\n";
      if (!f.skip_bad_rows)
        return Fail("refusing a trace with bad rows; fix them or pass --skip-bad-rows");
    }
    workload = std::move(read->workload);
    utc = *format == sim::io::TraceFormat::kPhilly;
    source = f.trace;
    // Traces carry no priorities (the generic CSV may): draw them from the seed when absent.
    if (*format == sim::io::TraceFormat::kPhilly) sim::AssignPriorities(&workload, f.seed);
  }
  if (f.checkpointable_fraction >= 0) {
    if (f.checkpointable_fraction > 1) return Fail("--checkpointable-fraction must be in [0, 1]");
    sim::AssignCheckpointable(&workload, f.checkpointable_fraction, f.seed);
  }
  sim::WorkloadStats stats = sim::ComputeStats(workload);
  if (f.stats) {
    if (f.output == "json")
      std::cout << sim::io::StatsJson(stats, utc).dump(2) << "\n";
    else
      std::cout << sim::io::FormatStats(stats, utc);
    return kExitOk;
  }
  // Cluster.
  sim::ClusterConfig cluster;
  if (!f.cluster.empty() == !f.cluster_file.empty())
    return Fail("give exactly one of --cluster NODESxGPUS or --cluster-file FILE");
  if (!f.cluster.empty()) {
    auto c = sim::ParseClusterShape(f.cluster);
    if (!c.ok()) return Fail(c.status().message());
    cluster = *c;
  } else {
    auto text = sim::io::ReadTextFile(f.cluster_file);
    if (!text.ok()) return Fail(text.status().message());
    auto c = sim::ParseClusterFile(*text);
    if (!c.ok()) return Fail(f.cluster_file + ": " + c.status().message());
    cluster = *c;
  }
  // Options, checked for every policy before any run.
  std::vector<std::string> policies = SplitList(f.policies);
  if (policies.empty()) return Fail("--policy needs at least one policy");
  std::string bad;
  const std::optional<std::vector<double>> parsed = ParseNumberList(f.las_thresholds, &bad);
  if (!parsed) return Fail("--las-thresholds: '" + bad + "' is not a number");
  const std::vector<double>& thresholds = *parsed;
  // Balancer modes and settings.
  std::vector<balance::BalancerMode> modes;
  for (const auto& m : SplitList(f.balancer)) {
    auto mode = balance::ParseBalancerMode(m);
    if (!mode.ok()) return Fail("--balancer: " + mode.status().message());
    modes.push_back(*mode);
  }
  if (modes.empty()) return Fail("--balancer needs at least one mode (off, dry-run, on)");
  balance::BalancerConfig bal = sim::DefaultSimBalancer();
  DurationMs cost_ms = 0;
  if (!ParseDurationMs(f.balance_period, &bal.period_ms) || bal.period_ms < 1)
    return Fail("--balance-period: '" + f.balance_period + "' is not a duration like 60s");
  if (!ParseDurationMs(f.balance_window, &bal.no_ping_pong_ms))
    return Fail("--balance-window: '" + f.balance_window + "' is not a duration like 30m");
  if (!ParseDurationMs(f.migration_cost, &cost_ms))
    return Fail("--migration-cost: '" + f.migration_cost + "' is not a duration like 60s");
  // The cost is split evenly between checkpoint and restart; the simulator pays the total.
  bal.default_move_cost = {cost_ms / 2000.0, cost_ms / 2000.0, 0};
  bal.threshold = f.balance_threshold;
  bal.consecutive_periods = f.balance_k;
  std::vector<sim::SimOptions> runs;
  std::vector<std::string> durations = SplitList(f.durations);
  if (durations.empty()) return Fail("--durations needs at least one of oracle, muster, mean_so_far, last_two_of_class");
  for (const auto& p : policies)
    for (balance::BalancerMode mode : modes)
    for (const std::string& d : durations) {
      sim::SimOptions o;
      o.policy = p;
      o.backfill = f.backfill;
      o.placement = f.placement;
      o.multi_node_slowdown = f.slowdown;
      o.single_node_jobs = f.single_node_jobs;
      o.las_thresholds_gpu_s = thresholds;
      o.queue_view = f.queue_view;
      o.pass_interval_ms = static_cast<DurationMs>(std::llround(f.pass_interval_s * 1000));
      o.balancer = bal;
      o.balancer.mode = mode;
      o.predict = f.predict;
      o.durations = d;
      if (Status s = sim::ValidateOptions(o); !s.ok()) return Fail(s.message());
      runs.push_back(o);
    }
  sim::io::ReportInput report;
  report.title = "muster sim: " + source + " on " + cluster.Describe();
  report.command = f.command_line;
  report.cluster = cluster.Describe() + " (" + std::to_string(cluster.TotalGpus()) + " GPUs)";
  report.stats = stats;
  report.utc_times = utc;
  for (const auto& o : runs) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = sim::Simulate(workload, cluster, o);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok())
      return Fail("policy " + o.policy + ", balancer " +
                      balance::BalancerModeName(o.balancer.mode) + ": " + r.status().ToString(),
                  kExitFailed);
    report.runs.push_back({std::move(r).value(), {wall, PeakRssMiB()}});
  }
  if (f.output == "json") {
    std::cout << sim::io::ReportJson(report, false).dump(2) << "\n";
  } else {
    std::cout << report.title << " (" << cluster.TotalGpus() << " GPUs), " << stats.jobs
              << " jobs\n"
              << sim::io::ComparisonTable(report.runs);
    if (f.balancer != "off") std::cout << "\n" << sim::io::BalancerTable(report.runs);
    if (f.predict)
      std::cout << "\npredictions at submit (learning only from jobs finished before):\n"
                << sim::io::PredictionTable(report.runs);
    for (const auto& r : report.runs) {
      if (r.result.rejected > 0)
        std::cout << r.result.policy << ": " << r.result.rejected
                  << " jobs larger than the cluster were rejected\n";
      if (r.result.unfinished > 0)
        std::cout << r.result.policy << ": " << r.result.unfinished << " jobs never started\n";
    }
  }
  if (!f.report_dir.empty()) {
    if (Status s = sim::io::WriteReportDir(f.report_dir, report); !s.ok())
      return Fail(s.message(), kExitFailed);
    if (f.output != "json") std::cout << "report: " << f.report_dir << "/report.html\n";
  }
  return kExitOk;
}

}  // namespace

std::optional<std::vector<double>> ParseNumberList(const std::string& text, std::string* bad) {
  std::vector<double> out;
  for (const auto& t : SplitList(text)) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (*end != '\0') {
      *bad = t;
      return std::nullopt;
    }
    out.push_back(v);
  }
  return out;
}

void AddSimCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<SimFlags>();
  CLI::App* sim =
      app.add_subcommand("sim", "Replay a cluster trace through the scheduler on a virtual clock");
  sim->footer(
      "Examples:\n"
      "  muster sim --trace ../shared/data/traces/philly.csv --stats\n"
      "  muster sim --trace philly.csv --cluster 250x8 --policy fifo,sjf,srtf,las --backfill\n"
      "  muster sim --generate jobs=100000,rate=400,seed=7 --cluster 100x8 --report out/\n"
      "  muster sim --trace jobs.csv --format csv --cluster-file c.txt --balancer off,on\n"
      "Generic CSV header: submit_time_s,duration_s,gpus[,user][,priority][,checkpointable].\n"
      "Cluster file lines: count gpus_per_node gpu_model speed (e.g. '100 8 V100 1.0').\n"
      "Generator keys: jobs, rate (jobs/hour), seed, median (s), sigma, max (s), users,\n"
      "  sizes (e.g. 1:70/2:10/4:10/8:8/16:2). See docs/simulator.md.");
  sim->add_option("--trace", f->trace, "Trace file to replay");
  sim->add_option("--format", f->format, "Trace format: philly | csv")->capture_default_str();
  sim->add_option("--cluster", f->cluster, "Homogeneous cluster NODESxGPUS, e.g. 250x8");
  sim->add_option("--cluster-file", f->cluster_file,
                  "Heterogeneous cluster: lines 'count gpus_per_node gpu_model speed'");
  sim->add_option("--policy", f->policies,
                  "Policy or comma list: fifo, sjf, srtf, las, priority, fairshare")
      ->capture_default_str();
  sim->add_flag("--backfill", f->backfill, "EASY backfill behind the first blocked job");
  sim->add_option("--durations", f->durations,
                  "Run times the scheduler sees (backfill, sjf): oracle (the trace's), muster, "
                  "mean_so_far, last_two_of_class (predicted at submit), or a comma list to compare")
      ->capture_default_str();
  sim->add_flag("--predict", f->predict,
                "Predict each job's start and run time at submit (muster's calibrator and two "
                "baselines) and report their errors");
  sim->add_option("--placement", f->placement, "consolidated | scattered")->capture_default_str();
  sim->add_option("--multi-node-slowdown", f->slowdown,
                  "Run-time factor (>= 1) for jobs spread over several nodes")
      ->capture_default_str();
  sim->add_flag("--single-node-jobs", f->single_node_jobs,
                "A job that fits on the largest node must run on one node (fragmentation)");
  sim->add_option("--seed", f->seed,
                  "Seed for --generate (unless it has seed=) and for trace priorities")
      ->capture_default_str();
  sim->add_option("--report", f->report_dir, "Write report.html and report.json into DIR");
  sim->add_option("--generate", f->generate,
                  "Synthetic Poisson workload: jobs=N,rate=R,seed=S,...");
  sim->add_flag("--stats", f->stats, "Print workload statistics and exit");
  sim->add_flag("--skip-bad-rows", f->skip_bad_rows, "Replay a trace even if some rows are bad");
  sim->add_option("-o,--output", f->output, "text | json")->capture_default_str();
  sim->add_option("--queue-view", f->queue_view,
                  "Most queued jobs the scheduler sees per pass (policy order)")
      ->capture_default_str();
  sim->add_option("--pass-interval", f->pass_interval_s,
                  "Seconds between scheduling passes (0: after every event batch)")
      ->capture_default_str();
  sim->add_option("--las-thresholds", f->las_thresholds,
                  "LAS queue thresholds in GPU-seconds, ascending")
      ->capture_default_str();
  sim->add_option("--balancer", f->balancer,
                  "Load balancer: off | dry-run | on, or a comma list (off,on) to compare")
      ->capture_default_str();
  sim->add_option("--balance-period", f->balance_period, "Time between balancer decisions")
      ->capture_default_str();
  sim->add_option("--balance-threshold", f->balance_threshold,
                  "Imbalance factor (max/mean - 1) above which a period counts toward k")
      ->capture_default_str();
  sim->add_option("--balance-k", f->balance_k, "Consecutive periods over the threshold")
      ->capture_default_str();
  sim->add_option("--balance-window", f->balance_window, "A job moves at most once per window")
      ->capture_default_str();
  sim->add_option("--migration-cost", f->migration_cost,
                  "Checkpoint + restart time a migrated job loses")
      ->capture_default_str();
  sim->add_option("--checkpointable-fraction", f->checkpointable_fraction,
                  "Mark this fraction of jobs checkpointable (seeded by --seed); default: the "
                  "trace's checkpointable column")
      ->capture_default_str();
  sim->callback([f, &ctx] {
    f->command_line = CommandLine(*f);
    ctx.exit_code = RunSim(*f);
  });
}

}  // namespace muster::cli
