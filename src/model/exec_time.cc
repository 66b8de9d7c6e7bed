// Execution-time models; see exec_time.h.
#include "model/exec_time.h"

#include <cmath>
#include <string>

namespace muster::model {
namespace {

bool NonNegativeFinite(double x) {
  return std::isfinite(x) && x >= 0;
}

}  // namespace

Result<SeedExecBreakdown> SeedExecTime(const SeedExecInput& in) {
  if (!std::isfinite(in.workers) || in.workers <= 0) {
    return Status::InvalidArgument("N (workers) must be a positive number");
  }
  if (!NonNegativeFinite(in.latency_ms)) {
    return Status::InvalidArgument("latency L must be a non-negative number");
  }
  SeedExecBreakdown out;
  for (size_t i = 0; i < in.work.size(); ++i) {
    if (!NonNegativeFinite(in.work[i])) {
      return Status::InvalidArgument("work C_" + std::to_string(i + 1) +
                                     " must be a non-negative number");
    }
    out.total_work += in.work[i];
  }
  out.compute_ms = out.total_work / in.workers;
  out.item_terms.reserve(in.work.size());
  for (double c : in.work) {
    const double term = in.latency_ms * c / in.workers;
    out.item_terms.push_back(term);
    out.latency_term_ms += term;
  }
  out.total_ms = out.compute_ms + out.latency_term_ms;
  return out;
}

Result<SoundExecBreakdown> SoundExecTime(const SoundExecInput& in) {
  if (!std::isfinite(in.workers) || in.workers <= 0) {
    return Status::InvalidArgument("N (workers) must be a positive number");
  }
  if (!std::isfinite(in.rate_per_worker) || in.rate_per_worker <= 0) {
    return Status::InvalidArgument("compute rate v must be a positive number");
  }
  if (!NonNegativeFinite(in.work)) return Status::InvalidArgument("work W must be >= 0");
  if (!NonNegativeFinite(in.alpha_s)) return Status::InvalidArgument("latency alpha must be >= 0");
  if (!in.transfer_bytes.empty() &&
      (!std::isfinite(in.bandwidth_bytes_per_s) || in.bandwidth_bytes_per_s <= 0)) {
    return Status::InvalidArgument(
        "bandwidth beta must be a positive number when there are transfers");
  }
  SoundExecBreakdown out;
  out.compute_s = in.work / (in.workers * in.rate_per_worker);
  for (size_t j = 0; j < in.transfer_bytes.size(); ++j) {
    const double d = in.transfer_bytes[j];
    if (!NonNegativeFinite(d)) {
      return Status::InvalidArgument("transfer D_" + std::to_string(j + 1) + " must be >= 0 bytes");
    }
    const double term = in.alpha_s + d / in.bandwidth_bytes_per_s;
    out.transfer_terms_s.push_back(term);
    out.communication_s += term;
  }
  out.total_s = out.compute_s + out.communication_s;
  return out;
}

SeedExecInput SeedWorkedExample() {
  return SeedExecInput{.work = {1000, 2000, 1500, 1200, 1800}, .workers = 4 * 8, .latency_ms = 1};
}

}  // namespace muster::model
