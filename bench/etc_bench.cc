// Run time of the batch heuristics on the Braun et al. ETC instances: Min-min is the baseline,
// measured in the same run as the tabu search seeded with it. Prints makespans, the gap to the
// best known schedule where one is known, seconds of CPU and the tabu/Min-min time ratio.
// Target: tabu within 5% of the best known makespan on u_c_hihi.0 in under 10 s.
//
//   etc_bench [DATA_DIR]   (default: the configured ../shared/data/etc)
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "sched/etc_heuristics.h"
#include "sched/etc_tabu.h"

namespace {

double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

}  // namespace

int main(int argc, char** argv) {
  using namespace muster::sched;
  const std::string dir = argc > 1 ? argv[1] : MUSTER_ETC_DIR;
  struct Instance {
    const char* name;
    double best_known;  // 0 = not known here
  };
  const Instance instances[] = {{"u_c_hihi.0", 7358942.8}, {"u_i_lohi.0", 0}, {"u_s_lolo.0", 0}};
  std::printf("%-11s %14s %9s %14s %9s %8s %10s\n", "instance", "min-min", "s", "tabu", "s",
              "ratio", "gap");
  int status = 0;
  for (const auto& inst : instances) {
    std::ifstream in(dir + "/" + inst.name);
    if (!in) {
      std::fprintf(stderr, "etc_bench: cannot read %s/%s\n", dir.c_str(), inst.name);
      return 2;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    auto etc = ParseEtc(buf.str());
    if (!etc.ok()) {
      std::fprintf(stderr, "etc_bench: %s: %s\n", inst.name, etc.status().ToString().c_str());
      return 2;
    }
    double t0 = CpuSeconds();
    const EtcSchedule minmin = MinMin(*etc);
    double t1 = CpuSeconds();
    const EtcSchedule tabu = TabuSearch(*etc, minmin, TabuOptions{});
    double t2 = CpuSeconds();
    std::string gap = "-";
    if (inst.best_known > 0) {
      char g[32];
      std::snprintf(g, sizeof g, "%+.2f%%", 100 * (tabu.makespan / inst.best_known - 1));
      gap = g;
      if (tabu.makespan > 1.05 * inst.best_known || t2 - t1 >= 10) status = 1;
    }
    std::printf("%-11s %14.1f %9.3f %14.1f %9.3f %7.0fx %10s\n", inst.name, minmin.makespan,
                t1 - t0, tabu.makespan, t2 - t1, (t2 - t1) / std::max(t1 - t0, 1e-6), gap.c_str());
  }
  std::printf("target: tabu within 5%% of best known on u_c_hihi.0 in < 10 s CPU: %s\n",
              status == 0 ? "met" : "NOT met");
  return status;
}
