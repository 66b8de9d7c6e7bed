// Accounting as users read it: the coordinator's per-attempt rows (v1::AttemptUsage) summed up
// per job (GPU-hours, CPU-hours, peak memory, mean GPU utilization, energy), for `muster acct`
// and the REST API's /api/v1/acct. Measured values that are missing stay missing (null in
// JSON), never 0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/proto/muster.pb.h"

namespace muster::client {

struct JobUsage {
  int64_t job = 0;
  std::string user, name, state;
  int exit_code = 0;
  int64_t submit_ms = 0, start_ms = 0, end_ms = 0;
  bool running = false;
  int attempts = 0;
  int gpus = 0;
  double gpu_hours = 0, cpu_hours = 0;
  double cpu_time_s = -1;
  int64_t peak_mib = 0;
  double util_weight = 0, util_sum = 0;
  double energy_wh = 0;
  bool energy_seen = false, energy_missing = false;

  double WaitS() const { return start_ms > 0 ? (start_ms - submit_ms) / 1000.0 : -1; }
  double ElapsedS(int64_t now) const {
    return start_ms > 0 ? ((running ? now : end_ms) - start_ms) / 1000.0 : 0;
  }
  double GpuUtil() const { return util_weight > 0 ? util_sum / util_weight : -1; }
};

// One entry per job of the reply's attempts, by job id; running attempts count up to now_ms.
std::vector<JobUsage> AggregateAccounting(const v1::AccountingReply& reply);

// `v` when known, else null.
inline nlohmann::ordered_json KnownOrNull(double v, bool known) {
  return known ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

// The JSON of one job's usage (snake_case; times in epoch ms, null when not known).
nlohmann::ordered_json ToJson(const JobUsage& j, int64_t now_ms);

}  // namespace muster::client
