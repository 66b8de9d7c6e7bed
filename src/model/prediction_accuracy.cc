#include "model/prediction_accuracy.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace muster::model {

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

namespace {

Accuracy Summarize(const std::string& cls, const std::vector<const PredictedRun*>& runs) {
  Accuracy a;
  a.job_class = cls;
  a.jobs = static_cast<int>(runs.size());
  std::vector<double> rel, signed_rel, start;
  int inside = 0;
  for (const PredictedRun* r : runs) {
    if (std::isfinite(r->predicted_start_s) && std::isfinite(r->actual_start_s))
      start.push_back(std::fabs(r->predicted_start_s - r->actual_start_s));
    if (!(r->actual_run_s > 0) || !std::isfinite(r->actual_run_s) ||
        !std::isfinite(r->predicted_run_s))
      continue;
    const double actual = std::max(r->actual_run_s, 0.001);
    rel.push_back(std::fabs(r->predicted_run_s - actual) / actual);
    signed_rel.push_back((r->predicted_run_s - actual) / actual);
    if (r->has_interval) {
      ++a.interval_jobs;
      inside += r->actual_run_s >= r->low_s && r->actual_run_s <= r->high_s;
    }
  }
  a.runtime_rel_error = {static_cast<int>(rel.size()), Quantile(rel, 0.5), Quantile(rel, 0.9)};
  a.start_error_s = {static_cast<int>(start.size()), Quantile(start, 0.5), Quantile(start, 0.9)};
  a.bias = Quantile(signed_rel, 0.5);
  a.interval_coverage = a.interval_jobs > 0 ? static_cast<double>(inside) / a.interval_jobs : 0;
  return a;
}

}  // namespace

PredictedRun ToPredictedRun(const FinishedJob& j) {
  const double run_s = j.together && j.longest_task_s >= 0
                           ? j.longest_task_s
                           : static_cast<double>(j.end_ms - j.start_ms) / 1000.0;
  return {.job_class = j.job_class,
          .predicted_start_s = static_cast<double>(j.predicted_start_ms - j.submit_ms) / 1000.0,
          .actual_start_s = static_cast<double>(j.start_ms - j.submit_ms) / 1000.0,
          .predicted_run_s = static_cast<double>(j.predicted_finish_ms - j.predicted_start_ms) / 1000.0,
          .actual_run_s = run_s,
          .has_interval = j.together && j.high_s > j.low_s,
          .low_s = j.low_s,
          .high_s = j.high_s};
}

std::vector<Accuracy> SummarizeAccuracy(const std::vector<PredictedRun>& runs) {
  std::vector<const PredictedRun*> all;
  std::map<std::string, std::vector<const PredictedRun*>> by_class;
  for (const PredictedRun& r : runs) {
    all.push_back(&r);
    by_class[r.job_class].push_back(&r);
  }
  std::vector<Accuracy> out{Summarize("", all)};
  for (const auto& [cls, rs] : by_class) out.push_back(Summarize(cls, rs));
  return out;
}

}  // namespace muster::model
