#include "sim/submit_predictions.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace muster::sim {

namespace {

constexpr int kMuster = 0, kMeanSoFar = 1, kLastTwo = 2;
const char* const kNames[] = {"muster", "mean_so_far", "last_two_of_class"};

}  // namespace

SubmitPredictions::SubmitPredictions(const Workload& w, int max_projected)
    : w_(w),
      max_projected_(std::max(1, max_projected)),
      at_submit_(w.jobs.size()),
      arriving_(w.jobs.size(), 0) {}

std::string_view SubmitPredictions::UserOf(int job) const {
  const int32_t u = w_.jobs[static_cast<size_t>(job)].user;
  return u >= 0 && static_cast<size_t>(u) < w_.users.size() ? std::string_view(w_.users[u])
                                                             : std::string_view();
}

std::string SubmitPredictions::ClassOf(int job) const {
  return std::string(UserOf(job)) + "/" + std::to_string(w_.jobs[static_cast<size_t>(job)].gpus);
}

void SubmitPredictions::Finished(int job, double run_s) {
  if (!(run_s >= 0) || !std::isfinite(run_s)) return;
  const SimJob& j = w_.jobs[static_cast<size_t>(job)];
  if (const AtSubmit& a = at_submit_[static_cast<size_t>(job)]; a.made)
    calibrator_.Scored(run_s, {.seconds = a.run_s[kMuster],
                               .low = a.low_s,
                               .high = a.high_s,
                               .interval_scale = a.interval_scale,
                               .log_interval = a.log_interval != 0});
  const std::string cls = ClassOf(job);
  calibrator_.Observe({.job_class = cls,
                       .device_model = "sim",
                       .seconds = run_s,
                       .user = std::string(UserOf(job)),
                       .gpus = j.gpus});
  finished_sum_s_ += run_s;
  ++finished_;
  auto& last = last_two_[cls];
  last.push_back(run_s);
  if (last.size() > 2) last.pop_front();
}

std::array<double, SubmitPredictions::kPredictors> SubmitPredictions::PredictRun(
    int job, AtSubmit* a) const {
  const SimJob& j = w_.jobs[static_cast<size_t>(job)];
  const std::string cls = ClassOf(job);
  std::array<double, kPredictors> out{};
  const double mean = finished_ > 0 ? finished_sum_s_ / static_cast<double>(finished_) : kDefaultRunS;
  const model::Prediction p = calibrator_.Predict(
      {.job_class = cls,
       .device_model = "sim",
       .user = UserOf(job),
       .gpus = j.gpus,
       .default_s = kDefaultRunS},
      0.9);
  out[kMuster] = p.seconds;
  a->low_s = p.low;
  a->high_s = p.high;
  a->interval_scale = static_cast<float>(p.interval_scale);
  a->log_interval = p.log_interval;
  out[kMeanSoFar] = mean;
  auto it = last_two_.find(cls);
  if (it == last_two_.end() || it->second.empty()) {
    out[kLastTwo] = mean;
  } else {
    double sum = 0;
    for (double s : it->second) sum += s;
    out[kLastTwo] = sum / static_cast<double>(it->second.size());
  }
  return out;
}

int SubmitPredictions::PredictorIndex(const std::string& name) {
  for (int p = 0; p < kPredictors; ++p)
    if (name == kNames[p]) return p;
  return -1;
}

void SubmitPredictions::PredictRuns(const std::vector<int>& arrived) {
  for (int j : arrived) {
    AtSubmit& a = at_submit_[static_cast<size_t>(j)];
    a.made = true;
    a.run_s = PredictRun(j, &a);
    a.start_ms.fill(-1);
  }
}

void SubmitPredictions::ProjectStarts(const std::vector<int>& arrived, TimeMs now, int free_gpus,
                                      const std::vector<int>& queue,
                                      const std::vector<Running>& running,
                                      const std::vector<int>& started_now) {
  if (arrived.empty()) return;
  for (int j : started_now) {
    AtSubmit& a = at_submit_[static_cast<size_t>(j)];
    if (a.made) a.start_ms.fill(now);
  }
  // The arrivals still queued: where the walk may stop.
  size_t waiting = 0;
  for (int j : arrived) waiting += at_submit_[static_cast<size_t>(j)].start_ms[0] < 0;
  if (waiting == 0) return;
  for (int j : arrived) arriving_[static_cast<size_t>(j)] = 1;
  const auto later = std::greater<std::pair<TimeMs, int>>();
  for (int p = 0; p < kPredictors; ++p) {
    releases_.clear();
    for (const Running& r : running) {
      const AtSubmit& a = at_submit_[static_cast<size_t>(r.job)];
      const double run_s = a.made ? a.run_s[p] : kDefaultRunS;
      const TimeMs end = r.start_ms + static_cast<TimeMs>(std::llround(run_s * 1000));
      releases_.emplace_back(std::max(end, now), r.gpus);
    }
    std::make_heap(releases_.begin(), releases_.end(), later);
    int64_t free = free_gpus;
    TimeMs t = now;
    size_t left = waiting;
    int walked = 0;
    for (int j : queue) {
      if (left == 0 || walked++ >= max_projected_) break;
      const int g = w_.jobs[static_cast<size_t>(j)].gpus;
      while (free < g && !releases_.empty()) {
        std::pop_heap(releases_.begin(), releases_.end(), later);
        t = std::max(t, releases_.back().first);
        free += releases_.back().second;
        releases_.pop_back();
      }
      if (free < g) break;  // the timeline ran dry (cannot happen for a job that fits the cluster)
      AtSubmit& a = at_submit_[static_cast<size_t>(j)];
      const double run_s = a.made ? a.run_s[p] : kDefaultRunS;
      if (arriving_[static_cast<size_t>(j)] && a.start_ms[p] < 0) {
        a.start_ms[p] = t;
        --left;
      }
      free -= g;
      releases_.emplace_back(t + static_cast<TimeMs>(std::llround(run_s * 1000)), g);
      std::push_heap(releases_.begin(), releases_.end(), later);
    }
  }
  for (int j : arrived) arriving_[static_cast<size_t>(j)] = 0;
}

PredictionReport SubmitPredictions::Report(const std::vector<TimeMs>& submit_ms,
                                           const std::vector<TimeMs>& first_start_ms,
                                           const std::vector<TimeMs>& finish_ms,
                                           const std::vector<int>& starts) const {
  PredictionReport r;
  std::array<std::vector<model::PredictedRun>, kPredictors> runs;
  constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
  for (size_t j = 0; j < at_submit_.size(); ++j) {
    const AtSubmit& a = at_submit_[j];
    if (!a.made) continue;
    ++r.predicted_jobs;
    r.unprojected_jobs += a.start_ms[kMuster] < 0;
    if (starts[j] != 1 || finish_ms[j] < 0 || first_start_ms[j] < 0) continue;
    for (int p = 0; p < kPredictors; ++p) {
      model::PredictedRun run;
      run.predicted_start_s =
          a.start_ms[p] < 0 ? kNan : static_cast<double>(a.start_ms[p] - submit_ms[j]) / 1000;
      run.actual_start_s = static_cast<double>(first_start_ms[j] - submit_ms[j]) / 1000;
      run.predicted_run_s = a.run_s[p];
      run.actual_run_s = static_cast<double>(finish_ms[j] - first_start_ms[j]) / 1000;
      run.has_interval = p == kMuster && a.high_s > a.low_s;
      run.low_s = a.low_s;
      run.high_s = a.high_s;
      runs[p].push_back(run);
    }
  }
  for (int p = 0; p < kPredictors; ++p)
    r.predictors.push_back({kNames[p], model::SummarizeAccuracy(runs[p]).front()});
  return r;
}

}  // namespace muster::sim
