// Limits and fair share.
//
// Limits: a user's or a Unix group's running tasks may hold at most max_gpus GPUs and
// max_milli_cpus CPUs at once, and it may run at most max_jobs jobs at once (a group's limit
// counts all of its members, by the coordinator host's group database). Each scheduling pass
// starts from what every user holds now and offers the scheduler only what fits in what is left,
// taking it from the budget as it offers (so one pass cannot overshoot through several jobs; an
// offered task that does not start holds its share of the budget until the next pass). A job
// that gets nothing waits with the reason "user limit: 4 of 4 GPUs in use".
//
// Fair share: each user's past usage is the dominant share (of CPUs, memory, GPUs, relative to
// the cluster's capacity) of every ended attempt times its run time, decayed exponentially with
// fairshare_half_life_ms (as in Slurm's multifactor priority). The fairshare queue policy orders
// users by what they hold now plus the past usage divided by the half-life's seconds: a user who
// held the whole cluster for one half-life counts, right after, about as one holding it now.
// The usage is rebuilt at start from the accounting rows of the last ten half-lives.
#include <algorithm>
#include <cmath>
#include <spdlog/spdlog.h>

#include "cluster/coordinator/coordinator.h"
#include "cluster/coordinator/identity.h"
#include "sched/queue_fairshare.h"

namespace muster::cluster {

Status Coordinator::SetLimit(LimitRecord limit) {
  if (limit.kind != "user" && limit.kind != "group")
    return Status::InvalidArgument("a limit is of a user or a group, not '" + limit.kind + "'");
  if (!ValidPrincipalName(limit.name))
    return Status::InvalidArgument("invalid " + limit.kind + " name '" + limit.name + "'");
  if (limit.max_gpus < 0 || limit.max_milli_cpus < 0 || limit.max_jobs < 0)
    return Status::InvalidArgument("limits must not be negative (0 = no limit)");
  if (limit.max_gpus == 0 && limit.max_milli_cpus == 0 && limit.max_jobs == 0)
    return Status::InvalidArgument(
        "give at least one of --max-gpus, --max-cpus, --max-jobs (or --clear to remove it)");
  StateStore::Ticket ticket;
  {
    MutexLock lock(mu_);
    if (!read_only_.ok()) return read_only_;
    limit.set_ms = clock_->NowMs();
    ticket = store_->UpsertLimit(limit);
    spdlog::info("limit of {} {} set: {} GPUs, {} mCPUs, {} jobs", limit.kind, limit.name,
                 limit.max_gpus, limit.max_milli_cpus, limit.max_jobs);
    limits_[{limit.kind, limit.name}] = std::move(limit);
  }
  if (Status s = store_->Wait(ticket); !s.ok()) return s;
  Kick();
  return Status::Ok();
}

Status Coordinator::ClearLimit(const std::string& kind, const std::string& name) {
  StateStore::Ticket ticket;
  {
    MutexLock lock(mu_);
    if (!read_only_.ok()) return read_only_;
    if (!limits_.erase({kind, name}))
      return Status::NotFound("no limit for " + kind + " '" + name + "'");
    ticket = store_->DeleteLimit(kind, name);
  }
  if (Status s = store_->Wait(ticket); !s.ok()) return s;
  Kick();
  return Status::Ok();
}

std::vector<LimitRecord> Coordinator::Limits() const {
  MutexLock lock(mu_);
  std::vector<LimitRecord> out;
  for (const auto& [key, l] : limits_) out.push_back(l);
  return out;
}

void Coordinator::DecayPastUsage(TimeMs now) {
  const DurationMs h = options_.fairshare_half_life_ms;
  if (past_usage_ms_ == 0) past_usage_ms_ = now;
  if (h <= 0 || now <= past_usage_ms_) return;
  const double f = std::exp2(-static_cast<double>(now - past_usage_ms_) / static_cast<double>(h));
  past_usage_ms_ = now;
  for (auto it = past_usage_.begin(); it != past_usage_.end();)
    if ((it->second *= f) < 1e-6)
      it = past_usage_.erase(it);
    else
      ++it;
}

void Coordinator::AddPastUsage(const JobSpec& spec, TimeMs start_ms, TimeMs end_ms) {
  const DurationMs h = options_.fairshare_half_life_ms;
  if (h <= 0 || start_ms <= 0 || end_ms <= start_ms) return;
  const double share = sched::DominantShare(spec.resources, 1, capacity_);
  if (share <= 0) return;
  if (end_ms > past_usage_ms_) DecayPastUsage(end_ms);  // the reference time is never before it
  // Decayed from when it ended to the usage's reference time.
  const double age = static_cast<double>(past_usage_ms_ - end_ms);
  past_usage_[spec.user] +=
      share * static_cast<double>(end_ms - start_ms) / 1000.0 * std::exp2(-age / h);
}

double Coordinator::PastShare(const std::string& user, TimeMs now) const {
  const DurationMs h = options_.fairshare_half_life_ms;
  auto it = past_usage_.find(user);
  if (h <= 0 || it == past_usage_.end()) return 0;
  const double age = static_cast<double>(std::max<TimeMs>(0, now - past_usage_ms_));
  return it->second * std::exp2(-age / static_cast<double>(h)) / (static_cast<double>(h) / 1000.0);
}

void Coordinator::LoadPastUsage(const std::vector<AccountingRow>& rows) {
  for (const auto& [name, n] : nodes_.all()) capacity_ += n.rec.spec.Capacity();
  past_usage_ms_ = clock_->NowMs();
  if (rows.empty()) return;
  for (const AccountingRow& r : rows) {
    JobSpec spec;
    spec.user = r.user;
    spec.resources.gpus = r.gpus;
    spec.resources.milli_cpus = r.milli_cpus;
    spec.resources.memory_mib = 0;  // not kept per row: GPUs and CPUs decide
    AddPastUsage(spec, r.start_ms, std::min(r.end_ms, past_usage_ms_));
  }
}

std::map<std::string, double> Coordinator::HeldShares(const ScalarResources& capacity) const {
  std::map<std::string, ScalarResources> held;
  for (JobId id : jobs_.holding()) {
    const JobRecord& j = jobs_.Get(id);
    if (j.counts.active == 0) continue;
    const ScalarResources one = ScalarOf(j.spec->resources);
    ScalarResources& h = held[j.spec->user];
    h.milli_cpus += one.milli_cpus * j.counts.active;
    h.memory_mib += one.memory_mib * j.counts.active;
    h.gpus += one.gpus * j.counts.active;
  }
  std::map<std::string, double> out;
  for (const auto& [user, h] : held) {
    double share = 0;
    if (capacity.milli_cpus > 0)
      share = std::max(share, static_cast<double>(h.milli_cpus) / capacity.milli_cpus);
    if (capacity.memory_mib > 0)
      share = std::max(share, static_cast<double>(h.memory_mib) / capacity.memory_mib);
    if (capacity.gpus > 0) share = std::max(share, static_cast<double>(h.gpus) / capacity.gpus);
    out[user] = share;
  }
  return out;
}

std::map<std::string, double> Coordinator::UserShares() const {
  MutexLock lock(mu_);
  std::map<std::string, double> out = HeldShares(capacity_);
  const TimeMs now = clock_->NowMs();
  for (const auto& [user, usage] : past_usage_) out[user] += PastShare(user, now);
  return out;
}

}  // namespace muster::cluster
