// The memetic search (sched/etc_memetic.h) against Min-min, both measured in the same run.
//
// Part 1, the Braun et al. 512x16 instances in DATA_DIR: Min-min and the search seeded with it;
// makespan, seconds, gap to the best known makespan. Target: within 1.5% of the best known in at
// most 5 s on each.
// Part 2, generated 2048x64 instances (sched/etc_generate.h, high task and machine
// heterogeneity, seed 1), one consistent and one inconsistent. Target: at most 10 s, and an
// improvement over Min-min at least as large as on the 512x16 instances of the same consistency
// class: the data instance and generated 512x16 hi/hi instances (seeds 1-3), the smallest of
// them. "As large" is measured as the share of Min-min's excess over the LP lower bound that the
// search removes, (min-min - search) / (min-min - bound), because plain % improvements are not
// comparable across instances: the bound caps them, and on the 2048x64 consistent instance it
// caps them below what the search reaches on u_c_hihi.0. Both are printed.
// Seconds are CPU seconds of this process (the search's time budget runs on the same clock);
// wall seconds are printed beside them. Exit status 1 if a target is missed, 2 on bad input.
//
//   etc_bench [DATA_DIR]   (default: the configured ../shared/data/etc)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "sched/etc_generate.h"
#include "sched/etc_heuristics.h"
#include "sched/etc_memetic.h"

namespace {

using namespace muster::sched;

// Process CPU time: the search's budget, unaffected by other load on a shared machine.
class CpuClock final : public muster::Clock {
 public:
  muster::TimeMs NowMs() const override {
    return static_cast<muster::TimeMs>(1000.0 * static_cast<double>(std::clock()) / CLOCKS_PER_SEC);
  }
};

double CpuSeconds() {
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr muster::DurationMs kSmallBudgetMs = 2500;  // 512x16; the target is 5 s
constexpr muster::DurationMs kLargeBudgetMs = 6000;  // 2048x64; the target is 10 s
constexpr double kSmallTargetS = 5, kLargeTargetS = 10, kGapTarget = 0.015;
constexpr int kBoundIterations = 10000;  // for the printed lower bound, outside the timing
constexpr uint64_t kClassSeeds = 3;

struct Run {
  double minmin = 0, minmin_s = 0, search = 0, search_s = 0, search_wall_s = 0, bound = 0;
  int generations = 0;
  double Improvement() const { return 1 - search / minmin; }
  double Closed() const { return (minmin - search) / (minmin - bound); }
  double BoundImprovement() const { return 1 - bound / minmin; }
};

Run Measure(const EtcMatrix& etc, muster::DurationMs budget_ms) {
  static const CpuClock clock;
  Run r;
  const double t0 = CpuSeconds();
  const EtcSchedule minmin = MinMin(etc);
  const double t1 = CpuSeconds(), w1 = WallSeconds();
  MemeticStats stats;
  const EtcSchedule best = MemeticSearch(
      etc, minmin,
      MemeticOptions{.max_generations = 1 << 30, .clock = &clock, .time_budget_ms = budget_ms},
      &stats);
  r.search_s = CpuSeconds() - t1;
  r.search_wall_s = WallSeconds() - w1;
  r.minmin_s = t1 - t0;
  r.minmin = minmin.makespan;
  r.search = best.makespan;
  r.generations = stats.generations;
  r.bound = LagrangianBound(etc, kBoundIterations).makespan;
  return r;
}

std::string Percent(double fraction, const char* fmt = "%.2f%%") {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, 100 * fraction);
  return buf;
}

// The smallest share closed and improvement seen on the 512x16 instances of one class.
struct ClassFloor {
  double closed = 1, improvement = 1;
  void Add(const Run& r) {
    closed = std::min(closed, r.Closed());
    improvement = std::min(improvement, r.Improvement());
  }
};

EtcMatrix Generate(int tasks, int machines, EtcConsistency consistency, uint64_t seed) {
  auto etc =
      GenerateEtc({.tasks = tasks, .machines = machines, .consistency = consistency, .seed = seed});
  if (!etc.ok()) {
    std::fprintf(stderr, "etc_bench: %s\n", etc.status().ToString().c_str());
    std::exit(2);
  }
  return *etc;
}

void PrintRow(const std::string& name, const Run& r, const std::string& last) {
  std::printf("%-14s %11.1f %6.3f %11.1f %6.2f %6.2f %6.0fx %8s %8s %8s  %s\n", name.c_str(),
              r.minmin, r.minmin_s, r.search, r.search_s, r.search_wall_s,
              r.search_s / std::max(r.minmin_s, 1e-6), Percent(r.Improvement()).c_str(),
              Percent(r.BoundImprovement()).c_str(), Percent(r.Closed(), "%.1f%%").c_str(),
              last.c_str());
}

void PrintHeader(const char* last) {
  std::printf("%-14s %11s %6s %11s %6s %6s %7s %8s %8s %8s  %s\n", "instance", "min-min", "s",
              "memetic", "s", "wall", "ratio", "vs m-m", "bound", "closed", last);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : MUSTER_ETC_DIR;
  struct DataInstance {
    const char* name;
    double best_known;
    EtcConsistency consistency;
  };
  const DataInstance data[] = {{"u_c_hihi.0", 7358942.8, EtcConsistency::kConsistent},
                               {"u_i_lohi.0", 101527.0, EtcConsistency::kInconsistent},
                               {"u_s_lolo.0", 3419.4, EtcConsistency::kSemiConsistent}};
  int status = 0;
  ClassFloor consistent, inconsistent;
  auto floor_of = [&](EtcConsistency c) -> ClassFloor* {
    return c == EtcConsistency::kConsistent     ? &consistent
           : c == EtcConsistency::kInconsistent ? &inconsistent
                                                : nullptr;
  };

  std::printf(
      "512x16 data instances: search budget %.1f s CPU; target gap <= %.1f%% in <= %.0f s\n",
      kSmallBudgetMs / 1000.0, 100 * kGapTarget, kSmallTargetS);
  PrintHeader("gap     target");
  for (const auto& inst : data) {
    std::ifstream in(dir + "/" + inst.name);
    if (!in) {
      std::fprintf(stderr, "etc_bench: cannot read %s/%s (pass the data directory)\n", dir.c_str(),
                   inst.name);
      return 2;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    auto etc = ParseEtc(buf.str());
    if (!etc.ok()) {
      std::fprintf(stderr, "etc_bench: %s: %s\n", inst.name, etc.status().ToString().c_str());
      return 2;
    }
    const Run r = Measure(*etc, kSmallBudgetMs);
    const double gap = r.search / inst.best_known - 1;
    const bool met = gap <= kGapTarget && r.search_s <= kSmallTargetS;
    if (!met) status = 1;
    if (ClassFloor* f = floor_of(inst.consistency)) f->Add(r);
    PrintRow(inst.name, r, Percent(gap, "%+.2f%%") + "  " + (met ? "met" : "MISSED"));
  }

  std::printf("\n512x16 generated, hi/hi (the class baselines for the 2048x64 check)\n");
  PrintHeader("");
  for (const EtcConsistency c : {EtcConsistency::kConsistent, EtcConsistency::kInconsistent}) {
    for (uint64_t seed = 1; seed <= kClassSeeds; ++seed) {
      const EtcGenerateOptions gen{.consistency = c, .seed = seed};
      const Run r = Measure(Generate(512, 16, c, seed), kSmallBudgetMs);
      floor_of(c)->Add(r);
      PrintRow(EtcClassName(gen) + " s" + std::to_string(seed), r, "");
    }
  }

  std::printf(
      "\n2048x64 generated, hi/hi, seed 1: search budget %.1f s CPU; target <= %.0f s and\n"
      "closed >= the smallest closed on the 512x16 instances of the same class\n",
      kLargeBudgetMs / 1000.0, kLargeTargetS);
  PrintHeader("needed   target");
  for (const EtcConsistency c : {EtcConsistency::kConsistent, EtcConsistency::kInconsistent}) {
    const EtcGenerateOptions gen{.tasks = 2048, .machines = 64, .consistency = c, .seed = 1};
    const Run r = Measure(Generate(2048, 64, c, 1), kLargeBudgetMs);
    const ClassFloor& floor = *floor_of(c);
    const bool met = r.Closed() >= floor.closed && r.search_s <= kLargeTargetS;
    if (!met) status = 1;
    PrintRow(EtcClassName(gen), r,
             Percent(floor.closed, "%.1f%%") + "    " + (met ? "met" : "MISSED"));
    std::printf(
        "  plain %%: %s over Min-min here vs at least %s on 512x16 %s; the bound allows at most "
        "%s here (%d generations)\n",
        Percent(r.Improvement()).c_str(), Percent(floor.improvement).c_str(),
        c == EtcConsistency::kConsistent ? "consistent" : "inconsistent",
        Percent(r.BoundImprovement()).c_str(), r.generations);
  }
  std::printf(
      "\ns: CPU seconds; ratio: memetic s / min-min s; vs m-m: improvement over Min-min; bound: "
      "the "
      "improvement the LP lower bound allows; closed: share of (min-min - bound) removed; gap: vs "
      "best known\n");
  std::printf("targets: %s\n", status == 0 ? "met" : "NOT met");
  return status;
}
