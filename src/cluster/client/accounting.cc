#include "cluster/client/accounting.h"

#include <algorithm>
#include <map>

#include "cluster/client/display.h"
#include "cluster/common/convert.h"

namespace muster::client {

std::vector<JobUsage> AggregateAccounting(const v1::AccountingReply& reply) {
  std::map<int64_t, JobUsage> jobs;
  std::map<std::pair<int64_t, int>, const v1::AttemptUsage*> latest;  // per task
  const int64_t now = reply.now_ms();
  for (const auto& a : reply.attempts()) {
    JobUsage& j = jobs[a.job_id()];
    j.job = a.job_id();
    j.user = a.user();
    j.name = a.name();
    j.submit_ms = a.submit_ms();
    ++j.attempts;
    const bool running = a.end_ms() == 0;
    j.running = j.running || running;
    if (a.start_ms() > 0 && (j.start_ms == 0 || a.start_ms() < j.start_ms)) j.start_ms = a.start_ms();
    j.end_ms = std::max(j.end_ms, a.end_ms());
    const double hours =
        a.start_ms() > 0 ? std::max<int64_t>(0, (running ? now : a.end_ms()) - a.start_ms()) / 3.6e6
                         : 0;
    j.gpu_hours += a.gpus() * hours;
    j.cpu_hours += a.milli_cpus() / 1000.0 * hours;
    if (a.cpu_seconds() >= 0) j.cpu_time_s = std::max(0.0, j.cpu_time_s) + a.cpu_seconds();
    j.peak_mib = std::max(j.peak_mib, a.peak_memory_mib());
    if (a.gpu_util() >= 0 && a.gpus() > 0) {
      j.util_sum += a.gpu_util() * a.gpus() * hours;
      j.util_weight += a.gpus() * hours;
    }
    if (a.energy_wh() >= 0) {
      j.energy_wh += a.energy_wh();
      j.energy_seen = true;
    } else if (a.gpus() > 0) {
      j.energy_missing = true;
    }
    auto& last = latest[{a.job_id(), a.task_index()}];
    if (!last || a.attempt() > last->attempt()) last = &a;
    if (a.job_state() != v1::JOB_STATE_UNSPECIFIED) j.state = cluster::StateName(a.job_state());
  }
  for (const auto& [key, a] : latest) {
    JobUsage& j = jobs[key.first];
    j.gpus += a->gpus();
    if (j.exit_code == 0) j.exit_code = a->exit_code();
    if (a->job_state() == v1::JOB_STATE_UNSPECIFIED && j.state.empty())
      j.state = a->state();  // the job is gone: how its attempt ended
  }
  std::vector<JobUsage> out;
  for (auto& [id, j] : jobs) out.push_back(std::move(j));
  return out;
}

nlohmann::ordered_json ToJson(const JobUsage& j, int64_t now) {
  return {{"job_id", j.job},
          {"user", j.user},
          {"name", j.name},
          {"state", j.state},
          {"exit_code", j.exit_code},
          {"submit_ms", j.submit_ms},
          {"start_ms", j.start_ms > 0 ? nlohmann::ordered_json(j.start_ms) : nullptr},
          {"end_ms", j.running || j.end_ms == 0 ? nullptr : nlohmann::ordered_json(j.end_ms)},
          {"submit_time", FormatUtcTime(j.submit_ms)},
          {"wait_s", KnownOrNull(j.WaitS(), j.WaitS() >= 0)},
          {"elapsed_s", j.ElapsedS(now)},
          {"task_attempts", j.attempts},
          {"gpus", j.gpus},
          {"gpu_hours", j.gpu_hours},
          {"cpu_hours", j.cpu_hours},
          {"cpu_time_s", KnownOrNull(j.cpu_time_s, j.cpu_time_s >= 0)},
          {"peak_rss_mib", j.peak_mib > 0 ? nlohmann::ordered_json(j.peak_mib) : nullptr},
          {"gpu_util", KnownOrNull(j.GpuUtil(), j.GpuUtil() >= 0)},
          {"energy_wh", KnownOrNull(j.energy_wh, j.energy_seen)},
          {"energy_complete", j.energy_seen && !j.energy_missing}};
}

}  // namespace muster::client
