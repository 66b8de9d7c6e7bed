// Predictions made at submit time during a replay, and how good they were (SimOptions::predict).
//
// Each job's run time is predicted when it arrives by three predictors, each learning only from
// jobs that finished before that instant (no peeking at the job's own duration):
//   muster             model::Calibrator, the daemon's own: job class = the trace's user (on
//                      Philly the virtual cluster) and GPU count, then the user, the GPU count,
//                      all jobs; with its 90% run-time interval;
//   mean_so_far        the mean run time of every job finished so far;
//   last_two_of_class  the mean of the last two finished jobs of the same class (the
//                      system-generated predictor of Tsafrir, Etsion and Feitelson, 2007); the
//                      mean so far while the class has none.
// Before any job has finished, all three say kDefaultRunS.
// Each predictor's start prediction replays the queue as it is after the arrival's scheduling
// pass, in the policy's order, on the GPUs as one pool (a simulated job's ranks may spread over
// nodes), the running jobs releasing their GPUs at their start + their predicted run time (now
// if that has passed) and each queued job taking its predicted run time: strict order, no
// backfill, as the daemon's schedule table projects (sched/timeline_projection.h). Jobs beyond
// the first max_projected queued ones get no start prediction (as the daemon's horizon).
// Errors are measured as `muster schedule --accuracy` measures them (model/prediction_accuracy.h),
// over the jobs that finished having run once (preempted jobs are left out: their run is not one
// run).
// Pure; single-threaded.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "model/calibration.h"
#include "model/prediction_accuracy.h"
#include "sim/workload.h"

namespace muster::sim {

inline constexpr double kDefaultRunS = 3600;

// The figures of one predictor over a run.
struct PredictorAccuracy {
  std::string name;         // muster | mean_so_far | last_two_of_class
  model::Accuracy overall;  // interval figures only for muster
};

struct PredictionReport {
  std::vector<PredictorAccuracy> predictors;  // muster first, then the two baselines
  int64_t predicted_jobs = 0;                 // jobs whose run time was predicted at submit
  int64_t unprojected_jobs = 0;  // of those, jobs beyond the projection horizon (no start)
};

class SubmitPredictions {
 public:
  static constexpr int kPredictors = 3;
  SubmitPredictions(const Workload& w, int max_projected = 10000);

  // A job finished a run of `run_s` seconds at `now`: every predictor learns it.
  void Finished(int job, double run_s);
  // Predicts the run times of jobs that just arrived (before the scheduling pass, which may
  // schedule on them: SimOptions::durations).
  void PredictRuns(const std::vector<int>& arrived);
  // Predictor `p`'s run time for `job`, in seconds; REQUIRES: PredictRuns saw the job.
  double PredictedRunS(int job, int p) const { return at_submit_[static_cast<size_t>(job)].run_s[p]; }
  // The index of a predictor's name (kNames), or -1.
  static int PredictorIndex(const std::string& name);
  // A running job, as the start projection sees it.
  struct Running {
    int job;
    int gpus;
    TimeMs start_ms;
  };
  // Predicts the starts of `arrived` (after PredictRuns). `queue`: queued jobs in the policy's
  // order (job ids); `running`: the running jobs; `started_now`: those of `arrived` that the
  // pass started.
  void ProjectStarts(const std::vector<int>& arrived, TimeMs now, int free_gpus,
               const std::vector<int>& queue, const std::vector<Running>& running,
               const std::vector<int>& started_now);
  // The figures over jobs that ran once: first_start_ms and finish_ms of each job (-1 = never).
  PredictionReport Report(const std::vector<TimeMs>& submit_ms,
                          const std::vector<TimeMs>& first_start_ms,
                          const std::vector<TimeMs>& finish_ms,
                          const std::vector<int>& starts) const;

 private:
  struct AtSubmit {
    bool made = false;
    std::array<double, kPredictors> run_s{};
    std::array<TimeMs, kPredictors> start_ms{};  // -1 = beyond the horizon
    double low_s = 0, high_s = 0;                // muster's 90% interval
    float interval_scale = 0;                    // and how it was made (model::Prediction)
    uint8_t log_interval = 1;
  };
  std::string_view UserOf(int job) const;  // "" when the trace names none
  std::string ClassOf(int job) const;       // "<user>/<gpus>"
  // Every predictor's run time; muster's interval into *a.
  std::array<double, kPredictors> PredictRun(int job, AtSubmit* a) const;

  const Workload& w_;
  const int max_projected_;
  model::Calibrator calibrator_;
  double finished_sum_s_ = 0;
  int64_t finished_ = 0;
  std::unordered_map<std::string, std::deque<double>> last_two_;  // by class, newest last
  std::vector<AtSubmit> at_submit_;
  std::vector<char> arriving_;  // by job: among the arrivals Arrived() is projecting
  // The projection's scratch: (release time, GPUs) as a min-heap.
  std::vector<std::pair<TimeMs, int>> releases_;
};

}  // namespace muster::sim
