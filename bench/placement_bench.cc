// Placement throughput of the online scheduler (Schedule) on a 1,000-node cluster with 8 GPUs per
// node, against a naive baseline measured in the same run.
//
// Workloads (fixed seed):
//   single: 100,000 queued single-GPU jobs (1 GPU, 4 CPU, 16 GiB each) on an idle cluster:
//           8,000 start, the rest get predicted rows up to the projection horizon.
//   busy:   the same queue on a cluster where 4,000 tasks run with random predicted finishes,
//           so the reservation walk and the projection step through thousands of instants.
//   fill:   8,000 single-GPU jobs on the idle cluster: every job starts, so jobs/s is the pure
//           placement rate (no waiting jobs, no predictions).
//   fill-exhaustive: the same with candidate_limit = 0 (every feasible node scored).
//   whole8: 12,500 single-task jobs of 8 GPUs each: 1,000 start (one whole node each).
//   gang8:  12,500 gang jobs of 8 ranks x 1 GPU: 1,000 start (one node each).
// Rates use the thread's CPU time (the column "CPU"), so other load on the machine does not
// count against them. Reported per run: jobs/s (queue entries decided per second: started,
// predicted or reported), starts, rows (start-now + predicted placements) and rows/s. Baseline
// ("naive"): FIFO, for every task scan all 1,000 nodes, keep the best bin-pack score (fewest free
// GPUs left), with per-GPU vector<bool> state; no index, no early stop, no predictions. The ratio
// of jobs/s (ours / naive) is printed at the end.
//
// Run: build/dev/bin/placement_bench   (one core; the scheduler is single-threaded)
#include <benchmark/benchmark.h>
#include <time.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "sched/scheduler.h"

namespace muster::sched {
namespace {

constexpr int kNodes = 1000;
constexpr int kGpusPerNode = 8;

ClusterSnapshot MakeCluster(int running_tasks, uint32_t seed) {
  ClusterSnapshot s;
  s.now_ms = 10'000'000;
  for (int i = 0; i < kNodes; ++i) {
    NodeView v;
    v.spec.name = "node" + std::to_string(i);
    v.spec.milli_cpus = 64'000;
    v.spec.memory_mib = 512 * 1024;
    for (int g = 0; g < kGpusPerNode; ++g)
      v.spec.gpus.push_back({g, "NVIDIA H100 80GB HBM3", 81920, false});
    v.free = NodeFree::AllFree(v.spec);
    s.nodes.push_back(std::move(v));
  }
  std::mt19937 rng(seed);
  for (int k = 0; k < running_tasks; ++k) {
    int n = static_cast<int>(rng() % kNodes);
    NodeView& v = s.nodes[n];
    int g = 0;
    while (g < kGpusPerNode && !v.free.gpu_free[g]) ++g;
    if (g == kGpusPerNode) continue;
    RunningTask r;
    r.task = {1'000'000 + k, 0};
    r.node = n;
    r.gpus = {g};
    r.resources.milli_cpus = 4000;
    r.resources.memory_mib = 16384;
    r.resources.gpus = 1;
    r.predicted_finish_ms = s.now_ms + 60'000 + static_cast<int64_t>(rng() % 7'200'000);
    v.free.gpu_free[g] = false;
    v.free.milli_cpus -= 4000;
    v.free.memory_mib -= 16384;
    s.running.push_back(r);
  }
  return s;
}

void AddQueue(ClusterSnapshot& s, int jobs, int ranks, uint32_t seed, int gpus_per_task = 1) {
  std::mt19937 rng(seed);
  auto spec = std::make_shared<JobSpec>();
  spec->name = ranks > 1 ? "ddp" : "sweep";
  spec->user = "alice";
  spec->command = {"python3", "train.py"};
  spec->tasks = ranks;
  spec->gang = ranks > 1;
  spec->resources.milli_cpus = 4000;
  spec->resources.memory_mib = 16384;
  spec->resources.gpus = gpus_per_task;
  s.queue.reserve(jobs);
  for (int j = 0; j < jobs; ++j) {
    PendingJob p;
    p.id = j + 1;
    p.spec = spec;  // shared, as the coordinator shares one spec per job
    p.submitted_ms = j;
    for (int r = 0; r < ranks; ++r) p.pending_tasks.push_back(r);
    p.predicted_duration_ms = 600'000 + static_cast<int64_t>(rng() % 6'600'000);
    s.queue.push_back(std::move(p));
  }
}

// The naive baseline: per task, scan every node; best = fewest free GPUs that still fit.
int NaivePlace(const ClusterSnapshot& s) {
  struct Free {
    MilliCpu cpu;
    MiB mem;
    std::vector<bool> gpu;
  };
  std::vector<Free> free;
  for (const auto& n : s.nodes)
    free.push_back({n.free.milli_cpus, n.free.memory_mib, n.free.gpu_free});
  int started = 0;
  for (const auto& job : s.queue) {
    const ResourceRequest& r = job.spec->resources;
    const int ranks = static_cast<int>(job.pending_tasks.size());
    std::vector<std::pair<int, std::vector<int>>> taken;
    bool ok = true;
    for (int t = 0; t < ranks && ok; ++t) {
      int best = -1;
      int best_free = 1 << 30;
      for (size_t i = 0; i < free.size(); ++i) {
        int nf = 0;
        for (bool b : free[i].gpu) nf += b;
        if (free[i].cpu < r.milli_cpus || free[i].mem < r.memory_mib || nf < r.gpus) continue;
        if (nf < best_free) {
          best_free = nf;
          best = static_cast<int>(i);
        }
      }
      if (best < 0) {
        ok = false;
        break;
      }
      std::vector<int> gpus;
      for (size_t g = 0; g < free[best].gpu.size() && static_cast<int>(gpus.size()) < r.gpus; ++g)
        if (free[best].gpu[g]) {
          free[best].gpu[g] = false;
          gpus.push_back(static_cast<int>(g));
        }
      free[best].cpu -= r.milli_cpus;
      free[best].mem -= r.memory_mib;
      taken.push_back({best, std::move(gpus)});
    }
    if (!ok) {  // gang: give back what was taken
      for (auto& [n, gpus] : taken) {
        for (int g : gpus) free[n].gpu[g] = true;
        free[n].cpu += r.milli_cpus;
        free[n].mem += r.memory_mib;
      }
      continue;
    }
    started += ranks;
  }
  return started;
}

std::map<std::string, double> g_jobs_per_s;

void Report(benchmark::State& state, const std::string& key, double seconds, int jobs, int starts,
            int rows) {
  const double per_iter = seconds / static_cast<double>(state.iterations());
  state.counters["jobs/s"] = jobs / per_iter;
  state.counters["starts"] = starts;
  state.counters["rows"] = rows;
  state.counters["rows/s"] = rows / per_iter;
  g_jobs_per_s[key] = jobs / per_iter;
}

// CPU seconds of this thread spent in body() over all iterations. CPU time, not wall time: the
// scheduler is single-threaded and the rate should not depend on other load on the machine.
template <typename Body>
double Timed(benchmark::State& state, Body&& body) {
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  double seconds = 0;
  for (auto _ : state) {
    const double t0 = cpu_now();
    body();
    seconds += cpu_now() - t0;
  }
  return seconds;
}

void RunSchedule(benchmark::State& state, const std::string& key, const ClusterSnapshot& s,
                 const SchedulerConfig& c) {
  int starts = 0;
  int rows = 0;
  double seconds = Timed(state, [&] {
    auto plan = Schedule(s, c);
    if (!plan.ok()) {
      state.SkipWithError(plan.status().ToString().c_str());
      return;
    }
    starts = static_cast<int>(plan->StartNow().size());
    rows = static_cast<int>(plan->placements.size());
    benchmark::DoNotOptimize(plan);
  });
  Report(state, key, seconds, static_cast<int>(s.queue.size()), starts, rows);
}

void RunNaive(benchmark::State& state, const std::string& key, const ClusterSnapshot& s) {
  int starts = 0;
  double seconds = Timed(state, [&] { starts = NaivePlace(s); });
  Report(state, key, seconds, static_cast<int>(s.queue.size()), starts, starts);
}

const ClusterSnapshot& Single() {
  static const ClusterSnapshot s = [] {
    ClusterSnapshot x = MakeCluster(0, 1);
    AddQueue(x, 100'000, 1, 2);
    return x;
  }();
  return s;
}
const ClusterSnapshot& Busy() {
  static const ClusterSnapshot s = [] {
    ClusterSnapshot x = MakeCluster(4000, 3);
    AddQueue(x, 100'000, 1, 4);
    return x;
  }();
  return s;
}
const ClusterSnapshot& Fill() {
  static const ClusterSnapshot s = [] {
    ClusterSnapshot x = MakeCluster(0, 7);
    AddQueue(x, kNodes * kGpusPerNode, 1, 8);
    return x;
  }();
  return s;
}
const ClusterSnapshot& Whole8() {
  static const ClusterSnapshot s = [] {
    ClusterSnapshot x = MakeCluster(0, 9);
    AddQueue(x, 12'500, 1, 10, kGpusPerNode);
    return x;
  }();
  return s;
}
const ClusterSnapshot& Gang8() {
  static const ClusterSnapshot s = [] {
    ClusterSnapshot x = MakeCluster(0, 5);
    AddQueue(x, 12'500, 8, 6);
    return x;
  }();
  return s;
}

SchedulerConfig Horizon(int jobs) {
  SchedulerConfig c;
  c.max_predicted_jobs = jobs;
  return c;
}

void BM_Single_Schedule(benchmark::State& st) {
  RunSchedule(st, "single", Single(), {});
}
void BM_Single_ScheduleAllPredicted(benchmark::State& st) {
  RunSchedule(st, "single-all", Single(), Horizon(100'000));
}
void BM_Single_ScheduleNoPrediction(benchmark::State& st) {
  RunSchedule(st, "single-none", Single(), Horizon(0));
}
void BM_Single_Naive(benchmark::State& st) {
  RunNaive(st, "single-naive", Single());
}
void BM_Busy_Schedule(benchmark::State& st) {
  RunSchedule(st, "busy", Busy(), {});
}
void BM_Busy_Naive(benchmark::State& st) {
  RunNaive(st, "busy-naive", Busy());
}
void BM_Fill_Schedule(benchmark::State& st) {
  RunSchedule(st, "fill", Fill(), {});
}
void BM_Fill_Naive(benchmark::State& st) {
  RunNaive(st, "fill-naive", Fill());
}
void BM_Fill_ScheduleExhaustive(benchmark::State& st) {
  SchedulerConfig c;
  c.candidate_limit = 0;  // score every feasible node
  RunSchedule(st, "fill-exhaustive", Fill(), c);
}
void BM_Whole8_Schedule(benchmark::State& st) {
  RunSchedule(st, "whole8", Whole8(), {});
}
void BM_Whole8_Naive(benchmark::State& st) {
  RunNaive(st, "whole8-naive", Whole8());
}
void BM_Gang8_Schedule(benchmark::State& st) {
  RunSchedule(st, "gang8", Gang8(), {});
}
void BM_Gang8_Naive(benchmark::State& st) {
  RunNaive(st, "gang8-naive", Gang8());
}

BENCHMARK(BM_Single_Schedule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Single_ScheduleAllPredicted)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Single_ScheduleNoPrediction)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Single_Naive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Busy_Schedule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Busy_Naive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fill_Schedule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fill_Naive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fill_ScheduleExhaustive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Whole8_Schedule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Whole8_Naive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gang8_Schedule)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gang8_Naive)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace muster::sched

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  auto& r = muster::sched::g_jobs_per_s;
  for (const char* w : {"single", "busy", "fill", "whole8", "gang8"}) {
    std::string naive = std::string(w) + "-naive";
    if (r.count(w) && r.count(naive) && r[naive] > 0)
      std::printf("%-7s Schedule %.0f jobs/s, naive %.0f jobs/s, ratio %.1fx\n", w, r[w], r[naive],
                  r[w] / r[naive]);
  }
  return 0;
}
