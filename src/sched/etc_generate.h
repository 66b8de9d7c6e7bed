// Range-based ETC matrices (Braun et al., 2001, after Ali, Siegel, Maheswaran et al., 2000), the
// method behind the standard u_{c,i,s}_{hi,lo}{hi,lo}.k instances.
//
// For each task t a baseline q(t) is drawn from U[1, R_task); then etc(t, m) = q(t) * r(t, m) with
// r(t, m) drawn from U[1, R_machine) for every machine. R_task is 3000 for high and 100 for low
// task heterogeneity; R_machine is 1000 for high and 10 for low machine heterogeneity. The draws
// are inconsistent; a consistent matrix then sorts each row ascending (machine 0 is the fastest
// for every task, machine M-1 the slowest); a semi-consistent one sorts only the entries in even
// columns (0, 2, 4, ...) of each row among themselves, leaving the odd columns as drawn.
//
// Deterministic for a seed on every platform: the uniform draws come from std::mt19937_64
// (fully specified by the standard) through a fixed 53-bit conversion, not from a standard
// library distribution. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "sched/etc_matrix.h"

namespace muster::sched {

enum class EtcHeterogeneity { kLow, kHigh };
enum class EtcConsistency { kInconsistent, kConsistent, kSemiConsistent };

// Upper ends of the ranges U[1, R).
inline constexpr double kEtcTaskRangeHigh = 3000;
inline constexpr double kEtcTaskRangeLow = 100;
inline constexpr double kEtcMachineRangeHigh = 1000;
inline constexpr double kEtcMachineRangeLow = 10;

struct EtcGenerateOptions {
  int tasks = 512;
  int machines = 16;
  EtcHeterogeneity task_heterogeneity = EtcHeterogeneity::kHigh;
  EtcHeterogeneity machine_heterogeneity = EtcHeterogeneity::kHigh;
  EtcConsistency consistency = EtcConsistency::kInconsistent;
  uint64_t seed = 1;
};

// Draws a matrix as described above. Errors unless tasks and machines are positive and
// tasks x machines is at most 50,000,000 (the limit ParseEtc also enforces).
Result<EtcMatrix> GenerateEtc(const EtcGenerateOptions& options);

// The Braun-style name of a matrix class, e.g. "c_hihi" (consistent, high task and high machine
// heterogeneity), "i_lohi", "s_lolo".
std::string EtcClassName(const EtcGenerateOptions& options);

}  // namespace muster::sched
