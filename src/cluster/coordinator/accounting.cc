// Accounting: one row per ended attempt (AccountingRow), written when the attempt stops holding
// its resources, with what its cgroup measured (peak memory, CPU time: from the agent's end
// event) and what the heartbeats of its node said about its GPUs while it ran.
//
// GPU metering: each heartbeat carries a reading per GPU of the node (utilization, power, in the
// node's GPU order). For every attempt holding GPUs there, the utilization of each of its GPUs is
// added up (the mean is taken at the end) and power x time since the attempt's previous reading
// is added to its energy. The time step is capped at three heartbeat intervals, so a silent
// stretch (a partition) is not billed at the last power seen. A GPU that reports no power (the
// CUDA backend, virtual GPUs) leaves the energy "not measured", never 0.
#include <algorithm>

#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

void Coordinator::MeterGpus(const std::string& node, const v1::UsageSample& u, TimeMs now) {
  if (u.gpus_size() == 0) return;
  const TimeMs max_step = 3 * options_.heartbeat_interval_ms;
  for (const auto& [ref, gpus] : cluster_.GpuHoldings(node)) {
    const JobRecord* j = jobs_.Find(ref.job);
    const TaskRecord* t = j ? JobTable::FindTask(*j, ref.index) : nullptr;
    if (!t || t->state != TaskState::kRunning || t->start_ms <= 0) continue;
    AttemptMeter& m = meters_[ref];
    if (m.attempt != t->attempt) m = AttemptMeter{.attempt = t->attempt, .last_ms = t->start_ms};
    const double step_s =
        static_cast<double>(std::clamp<TimeMs>(now - m.last_ms, 0, max_step)) / 1000.0;
    m.last_ms = now;
    for (int g : gpus) {
      if (g < 0 || g >= u.gpus_size()) continue;
      const v1::GpuDevice& r = u.gpus(g);
      if (r.utilization() >= 0 && r.utilization() <= 1) {
        m.util_sum += r.utilization();
        ++m.util_n;
      }
      if (r.power_w() >= 0 && r.power_w() < 1e5) {
        m.energy_j += r.power_w() * step_s;
        m.power_seen = true;
      }
    }
  }
}

AccountingRow Coordinator::AttemptRow(const JobRecord& j, const TaskRecord& t,
                                      const std::string& state, TimeMs end_ms) const {
  const JobSpec& s = *j.spec;
  AccountingRow r;
  r.job = j.id;
  r.index = t.index;
  r.attempt = t.attempt;
  r.user = s.user;
  r.name = s.name;
  r.node = t.node;
  r.state = state;
  r.exit_code = t.exit_code;
  r.submit_ms = j.submit_ms;
  r.start_ms = t.start_ms;
  r.end_ms = end_ms;
  r.gpus = static_cast<int>(t.gpus.size());
  r.milli_cpus = s.resources.milli_cpus;
  r.cpu_seconds = t.cpu_seconds;
  r.peak_memory_mib = t.peak_memory_mib;
  if (auto m = meters_.find(TaskRef{j.id, t.index}); m != meters_.end() &&
                                                      m->second.attempt == t.attempt) {
    if (m->second.util_n > 0) r.gpu_util = m->second.util_sum / m->second.util_n;
    if (m->second.power_seen) r.energy_wh = m->second.energy_j / 3600.0;
  }
  return r;
}

Result<std::vector<AccountingRow>> Coordinator::Accounting(TimeMs since_ms,
                                                           const std::string& user,
                                                           JobId job) const {
  // Rows queued but not yet committed would be missed: wait for them (a listing, not a hot path).
  // A store that cannot write still answers with what it holds.
  (void)store_->Flush();
  auto rows = store_->LoadAccounting(since_ms, user, job);
  if (!rows.ok()) return rows.status();
  MutexLock lock(mu_);
  const TimeMs now = clock_->NowMs();
  for (JobId id : jobs_.active()) {
    if (job != 0 && id != job) continue;
    const JobRecord& j = jobs_.Get(id);
    if (!user.empty() && j.spec->user != user) continue;
    for (const TaskRecord& t : j.tasks)
      if (t.state == TaskState::kRunning) {
        AccountingRow r = AttemptRow(j, t, "running", now);
        r.end_ms = 0;  // still running: measured up to now
        rows->push_back(std::move(r));
      }
  }
  return rows;
}

std::optional<JobState> Coordinator::JobStateOf(JobId job) const {
  MutexLock lock(mu_);
  const JobRecord* j = jobs_.Find(job);
  if (!j) return std::nullopt;
  return j->state;
}

}  // namespace muster::cluster
