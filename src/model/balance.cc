// Load-balance metrics; see balance.h for formulas and conventions.
#include "model/balance.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace muster::model {

Status ValidateLoads(std::span<const double> loads) {
  for (size_t i = 0; i < loads.size(); ++i) {
    if (!std::isfinite(loads[i]) || loads[i] < 0) {
      return Status::InvalidArgument("load #" + std::to_string(i + 1) +
                                     " must be a finite number >= 0");
    }
  }
  return Status::Ok();
}

BalanceReport Evaluate(std::span<const double> loads) {
  BalanceReport r;
  r.n = static_cast<int>(loads.size());
  if (loads.empty()) {
    r.seed_bal = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  double sum_sq = 0;
  r.min = loads[0];
  r.max = loads[0];
  for (double x : loads) {
    r.sum += x;
    sum_sq += x * x;
    r.min = std::min(r.min, x);
    r.max = std::max(r.max, x);
  }
  const double n = static_cast<double>(r.n);
  r.mean = r.sum / n;
  double var = 0;
  for (double x : loads) var += (x - r.mean) * (x - r.mean);
  r.stddev = std::sqrt(var / n);
  if (r.sum <= 0) {  // all zero: balanced by convention; seed Bal is 0/0
    r.seed_bal = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.jain = r.sum * r.sum / (n * sum_sq);
  r.cov = r.stddev / r.mean;
  r.imbalance_factor = r.max / r.mean - 1;
  r.relative_imbalance = 1 - r.mean / r.max;
  r.seed_bal = sum_sq / (n * r.sum * r.sum);
  return r;
}

double JainIndex(std::span<const double> loads) {
  return Evaluate(loads).jain;
}
double CoefficientOfVariation(std::span<const double> loads) {
  return Evaluate(loads).cov;
}
double ImbalanceFactor(std::span<const double> loads) {
  return Evaluate(loads).imbalance_factor;
}
double RelativeImbalance(std::span<const double> loads) {
  return Evaluate(loads).relative_imbalance;
}
double SeedBal(std::span<const double> loads) {
  return Evaluate(loads).seed_bal;
}

std::vector<std::pair<std::string, double>> MetricRows(const BalanceReport& r) {
  return {{"jain", r.jain},
          {"cov", r.cov},
          {"imbalance_factor", r.imbalance_factor},
          {"relative_imbalance", r.relative_imbalance},
          {"seed_bal", r.seed_bal}};
}

}  // namespace muster::model
