// Replay of the whole Philly trace (82,247 jobs) through sched::Schedule on 250x8 = 2,000 GPUs
// (the design target: under 10 s on one core) and on 100x8 (800 GPUs, where jobs queue), one
// benchmark per policy. The baseline is FIFO without backfill on the same cluster, measured in
// the same run; after all benchmarks the program prints each configuration's time relative to
// it, with events/s and the process's peak resident memory (getrusage).
// Usage: sim_bench [--trace PATH] [google-benchmark flags]; the trace defaults to
// MUSTER_DATA_DIR/traces/philly.csv.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "sim/engine.h"
#include "sim/io/trace_reader.h"

namespace {

using muster::sim::SimOptions;

muster::sim::Workload g_workload;

struct Measured {
  double seconds = 0;
  int64_t events = 0;
  double mean_jct_s = 0;
};
std::map<std::string, Measured> g_measured;  // by benchmark name

void Replay(benchmark::State& state, std::string cluster, SimOptions o) {
  auto c = muster::sim::ParseClusterShape(cluster).value();
  muster::sim::SimResult last;
  for (auto _ : state) {
    auto r = muster::sim::Simulate(g_workload, c, o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    last = std::move(r).value();
  }
  state.counters["events"] = static_cast<double>(last.events);
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(last.events) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["passes"] = static_cast<double>(last.passes);
  state.counters["mean_jct_h"] = last.jct_s.mean / 3600;
  state.counters["preemptions"] = static_cast<double>(last.preemptions);
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      Measured m;
      m.seconds = r.GetAdjustedRealTime() / 1e3;  // reported in ms
      auto ev = r.counters.find("events");
      m.events = ev == r.counters.end() ? 0 : static_cast<int64_t>(ev->second.value);
      auto jct = r.counters.find("mean_jct_h");
      m.mean_jct_s = jct == r.counters.end() ? 0 : jct->second.value * 3600;
      g_measured[r.run_name.function_name] = m;
    }
  }
};

void Register(const std::string& cluster, const std::string& policy, bool backfill) {
  SimOptions o;
  o.policy = policy;
  o.backfill = backfill;
  std::string name = "Philly/" + cluster + "/" + policy + (backfill ? "+backfill" : "");
  benchmark::RegisterBenchmark(name.c_str(),
                               [cluster, o](benchmark::State& s) { Replay(s, cluster, o); })
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1)
      ->UseRealTime();
}

double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string trace = std::string(MUSTER_DATA_DIR) + "/traces/philly.csv";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trace") == 0 && i + 1 < argc) {
      trace = argv[++i];
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  auto read = muster::sim::io::ReadTraceFile(trace, muster::sim::io::TraceFormat::kPhilly);
  if (!read.ok()) {
    std::fprintf(stderr, "sim_bench: %s\n", read.status().ToString().c_str());
    return 2;
  }
  g_workload = std::move(read->workload);
  std::printf("trace: %s, %zu jobs\n", trace.c_str(), g_workload.jobs.size());
  for (const char* cluster : {"250x8", "100x8"}) {
    Register(cluster, "fifo", false);  // baseline
    Register(cluster, "fifo", true);
    Register(cluster, "sjf", true);
    Register(cluster, "srtf", true);
    Register(cluster, "las", true);
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\n%-32s %10s %12s %10s %14s\n", "configuration", "wall s", "events/s", "vs base",
              "mean JCT vs base");
  for (const auto& [name, m] : g_measured) {
    std::string cluster = name.substr(0, name.find('/', 7));
    auto base = g_measured.find(cluster + "/fifo");
    double ratio =
        base != g_measured.end() && base->second.seconds > 0 ? m.seconds / base->second.seconds : 0;
    double jct = base != g_measured.end() && base->second.mean_jct_s > 0
                     ? m.mean_jct_s / base->second.mean_jct_s
                     : 0;
    std::printf("%-32s %10.2f %12.0f %9.2fx %13.3fx\n", name.c_str(), m.seconds,
                m.seconds > 0 ? static_cast<double>(m.events) / m.seconds : 0, ratio, jct);
  }
  std::printf("peak resident memory: %.1f MiB\n", PeakRssMiB());
  benchmark::Shutdown();
  return 0;
}
