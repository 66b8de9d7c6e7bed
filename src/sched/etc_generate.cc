// Range-based ETC generation; see etc_generate.h.
#include "sched/etc_generate.h"

#include <algorithm>
#include <random>
#include <vector>

namespace muster::sched {
namespace {

constexpr long long kMaxCells = 50'000'000;

// U[lo, hi) from the top 53 bits of one draw: the same numbers on every standard library.
double Uniform(std::mt19937_64& rng, double lo, double hi) {
  const double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return lo + unit * (hi - lo);
}

double TaskRange(EtcHeterogeneity h) {
  return h == EtcHeterogeneity::kHigh ? kEtcTaskRangeHigh : kEtcTaskRangeLow;
}

double MachineRange(EtcHeterogeneity h) {
  return h == EtcHeterogeneity::kHigh ? kEtcMachineRangeHigh : kEtcMachineRangeLow;
}

}  // namespace

Result<EtcMatrix> GenerateEtc(const EtcGenerateOptions& options) {
  const long long tasks = options.tasks, machines = options.machines;
  if (tasks <= 0 || machines <= 0 || tasks > kMaxCells / machines) {
    return Status::InvalidArgument(
        "an ETC matrix needs a positive number of tasks and machines (and tasks x machines at "
        "most 50,000,000), got " +
        std::to_string(tasks) + " x " + std::to_string(machines));
  }
  const double task_range = TaskRange(options.task_heterogeneity);
  const double machine_range = MachineRange(options.machine_heterogeneity);
  std::mt19937_64 rng(options.seed);
  std::vector<double> values(static_cast<size_t>(tasks * machines));
  std::vector<double> even;
  for (long long t = 0; t < tasks; ++t) {
    double* row = values.data() + t * machines;
    const double baseline = Uniform(rng, 1, task_range);
    for (long long m = 0; m < machines; ++m) row[m] = baseline * Uniform(rng, 1, machine_range);
    switch (options.consistency) {
      case EtcConsistency::kInconsistent:
        break;
      case EtcConsistency::kConsistent:
        std::sort(row, row + machines);
        break;
      case EtcConsistency::kSemiConsistent:
        even.clear();
        for (long long m = 0; m < machines; m += 2) even.push_back(row[m]);
        std::sort(even.begin(), even.end());
        for (long long m = 0; m < machines; m += 2) row[m] = even[m / 2];
        break;
    }
  }
  return EtcMatrix(options.tasks, options.machines, std::move(values));
}

std::string EtcClassName(const EtcGenerateOptions& options) {
  const char* consistency = options.consistency == EtcConsistency::kConsistent       ? "c"
                            : options.consistency == EtcConsistency::kSemiConsistent ? "s"
                                                                                     : "i";
  auto level = [](EtcHeterogeneity h) { return h == EtcHeterogeneity::kHigh ? "hi" : "lo"; };
  return std::string(consistency) + "_" + level(options.task_heterogeneity) +
         level(options.machine_heterogeneity);
}

}  // namespace muster::sched
