// Load-balance metrics over a vector of per-node (or per-machine) loads L_1..L_N.
//
//   Jain's index        J = (sum L)^2 / (N * sum L^2)        in [1/N, 1]; 1 = perfectly balanced
//   coefficient of var. CoV = stddev(L) / mean(L)             population stddev; 0 = balanced
//   imbalance factor    lambda = max / mean - 1               0 = balanced; N - 1 = one node has
//   all relative imbalance  1 - mean / max                        in [0, 1 - 1/N]; 0 = balanced
//   seed Bal (as written) sum L^2 / (N * (sum L)^2)           = 1 / (N^2 J); NOT 1 when balanced
//
// Conventions (documented in docs/models.md): loads must be finite and >= 0 (ValidateLoads).
// Empty input and all-zero loads count as balanced: J = 1, CoV = lambda = relative imbalance = 0,
// and the seed Bal, which is 0/0 there, is NaN (shown as "undefined" / JSON null).
// Pure; no I/O.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace muster::model {

struct BalanceReport {
  int n = 0;
  double sum = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double stddev = 0;  // population
  double jain = 1;
  double cov = 0;
  double imbalance_factor = 0;    // lambda = max/mean - 1
  double relative_imbalance = 0;  // 1 - mean/max
  double seed_bal = 0;            // sum L^2 / (N (sum L)^2); NaN when sum L = 0 or N = 0
};

// OK if every load is finite and >= 0; otherwise says which one is bad.
Status ValidateLoads(std::span<const double> loads);

// All metrics for `loads`. REQUIRES: ValidateLoads(loads).ok().
BalanceReport Evaluate(std::span<const double> loads);

// Individual metrics, same conventions as Evaluate.
double JainIndex(std::span<const double> loads);
double CoefficientOfVariation(std::span<const double> loads);
double ImbalanceFactor(std::span<const double> loads);
double RelativeImbalance(std::span<const double> loads);
double SeedBal(std::span<const double> loads);

// (name, value) pairs in display order, for tables and JSON: jain, cov, imbalance_factor,
// relative_imbalance, seed_bal.
std::vector<std::pair<std::string, double>> MetricRows(const BalanceReport& r);

// The seed's worked example loads (0.2, 0.5, 0.3, 0.2) and the values its text gave for Bal:
// it computed sum L^2 / N = 0.105 and printed 0.175. Quoted verbatim for comparison.
inline constexpr double kSeedExampleLoads[] = {0.2, 0.5, 0.3, 0.2};
inline constexpr double kSeedTextComputedBal = 0.105;
inline constexpr double kSeedTextPrintedBal = 0.175;

}  // namespace muster::model
