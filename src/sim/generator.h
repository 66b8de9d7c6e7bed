// Synthetic workloads: Poisson arrivals, a discrete GPU-size mix and log-normal run times, all
// drawn from one seeded generator (splitmix64 + xoshiro256**, Box-Muller), so the same options give
// the same workload on every platform and standard library.
//
//   inter-arrival ~ Exp(rate)                      rate in jobs per hour
//   gpus          ~ sizes (weights)                default 1:70,2:10,4:10,8:8,16:2
//   duration      ~ LogNormal(ln(median), sigma)   clamped to [min_s, max_s]
//   user          ~ Uniform{0..users-1}; priority ~ Uniform{0,1,2}
// Defaults resemble the Philly trace (median 1,144 s, heavy tail).
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "sim/workload.h"

namespace muster::sim {

struct GeneratorOptions {
  int64_t jobs = 1000;
  double rate_per_hour = 60;
  uint64_t seed = 1;
  double median_s = 1144;
  double sigma = 2.2;
  double min_s = 1;
  double max_s = 30 * 86400.0;
  int users = 8;
  std::vector<std::pair<int, double>> sizes = {{1, 70}, {2, 10}, {4, 10}, {8, 8}, {16, 2}};
};

// Parses "jobs=N,rate=R,seed=S,median=M,sigma=G,users=U,sizes=1:70/2:10,max=X" (any subset,
// any order) over the defaults. Error names the bad key or value.
Result<GeneratorOptions> ParseGeneratorSpec(const std::string& spec);

// A workload drawn from `o`; jobs are in submit order starting at time 0.
// REQUIRES: ParseGeneratorSpec-valid options (jobs >= 0, rate > 0, non-empty sizes).
Workload Generate(const GeneratorOptions& o);

// Gives every job of `w` a priority drawn uniformly from {0, 1, 2} with `seed` (for traces
// that carry none, so that the priority policy has something to order by).
void AssignPriorities(Workload* w, uint64_t seed);

// Marks each job of `w` checkpointable with probability `fraction` (0..1; clamped), drawn with
// `seed`, replacing whatever the trace said (for the load balancer's migrations).
void AssignCheckpointable(Workload* w, double fraction, uint64_t seed);

// Deterministic 64-bit generator (xoshiro256**), seeded through splitmix64.
class SimRng {
 public:
  explicit SimRng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, 1).
  double Uniform();
  // Standard normal (Box-Muller).
  double Normal();

 private:
  uint64_t s_[4];
};

}  // namespace muster::sim
