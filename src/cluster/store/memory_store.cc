#include "cluster/store/memory_store.h"

#include <algorithm>
#include <tuple>

namespace muster::cluster {

namespace {

// A record as the SQLite store would persist and reload it: runtime-only fields cleared.
TaskRecord Persisted(const TaskRecord& t) {
  TaskRecord p;
  p.index = t.index;
  p.state = t.state;
  p.attempt = t.attempt;
  p.node = t.node;
  p.gpus = t.gpus;
  p.exit_code = t.exit_code;
  p.retries = t.retries;
  p.lost_requeues = t.lost_requeues;
  p.peak_memory_mib = t.peak_memory_mib;
  p.cpu_seconds = t.cpu_seconds;
  p.start_ms = t.start_ms;
  p.end_ms = t.end_ms;
  p.message = t.message;
  p.progress = t.progress;
  return p;
}

}  // namespace

MemoryStore::MemoryStore(StoreContents contents) {
  for (auto& j : contents.jobs) jobs_.emplace(j.id, std::move(j));
  for (auto& n : contents.nodes) nodes_.emplace(n.spec.name, std::move(n));
  for (auto& u : contents.users) users_.emplace(u.name, std::move(u));
  for (auto& t : contents.join_tokens) join_tokens_.emplace(t.hash, std::move(t));
  for (auto& l : contents.limits) limits_[{l.kind, l.name}] = std::move(l);
  next_job_id_ = contents.next_job_id;
  epoch_ = contents.epoch;
}

void MemoryStore::FailWrites(Status why, std::optional<StoreWrite> only) {
  MutexLock lock(mu_);
  fail_all_ = std::move(why);
  fail_only_ = only;
}

void MemoryStore::FailNextWrites(int n, Status why, std::optional<StoreWrite> only) {
  MutexLock lock(mu_);
  fail_next_ = n;
  fail_next_why_ = std::move(why);
  fail_next_only_ = only;
}

void MemoryStore::FailLoads(Status why) {
  MutexLock lock(mu_);
  fail_loads_ = std::move(why);
}

void MemoryStore::Heal() {
  MutexLock lock(mu_);
  fail_all_.reset();
  fail_only_.reset();
  fail_next_ = 0;
  fail_loads_.reset();
}

int MemoryStore::failed_writes() const {
  MutexLock lock(mu_);
  return failed_writes_;
}

uint64_t MemoryStore::FailedWrites() const {
  MutexLock lock(mu_);
  return static_cast<uint64_t>(failed_writes_);
}

Status MemoryStore::LastWriteError() const {
  MutexLock lock(mu_);
  return last_error_;
}

int MemoryStore::committed_writes() const {
  MutexLock lock(mu_);
  return committed_writes_;
}

template <typename Apply>
StateStore::Ticket MemoryStore::Write(StoreWrite kind, Apply&& apply) {
  MutexLock lock(mu_);
  const Ticket t = next_ticket_++;
  std::optional<Status> fail;
  if (fail_next_ > 0 && (!fail_next_only_ || *fail_next_only_ == kind)) {
    --fail_next_;
    fail = fail_next_why_;
  } else if (fail_all_ && (!fail_only_ || *fail_only_ == kind)) {
    fail = fail_all_;
  }
  if (fail) {
    failed_[t] = *fail;
    ++failed_writes_;
    last_error_ = *fail;
    return t;
  }
  apply();
  ++committed_writes_;
  return t;
}

StoreContents MemoryStore::ContentsLocked() const {
  StoreContents out;
  for (const auto& [id, j] : jobs_) out.jobs.push_back(j);
  for (const auto& [name, n] : nodes_) out.nodes.push_back(n);
  for (const auto& [name, u] : users_) out.users.push_back(u);
  for (const auto& [hash, t] : join_tokens_) out.join_tokens.push_back(t);
  for (const auto& [key, l] : limits_) out.limits.push_back(l);
  out.next_job_id = next_job_id_;
  out.epoch = epoch_;
  for (const auto& [id, j] : jobs_) out.next_job_id = std::max(out.next_job_id, id + 1);
  return out;
}

StoreContents MemoryStore::Contents() const {
  MutexLock lock(mu_);
  return ContentsLocked();
}

Result<StoreContents> MemoryStore::LoadAll() {
  MutexLock lock(mu_);
  if (fail_loads_) return *fail_loads_;
  return ContentsLocked();
}

StateStore::Ticket MemoryStore::InsertJob(const JobRecord& job) {
  return Write(StoreWrite::kInsertJob, [&]() REQUIRES(mu_) {
    next_job_id_ = std::max(next_job_id_, job.id + 1);
    JobRecord j;
    j.id = job.id;
    j.spec = job.spec;
    j.state = job.state;
    j.submit_ms = job.submit_ms;
    j.start_ms = job.start_ms;
    j.end_ms = job.end_ms;
    j.reason = job.reason;
    for (const auto& t : job.tasks) j.tasks.push_back(Persisted(t));
    jobs_[job.id] = std::move(j);
  });
}

StateStore::Ticket MemoryStore::UpdateJob(const JobRecord& job) {
  return Write(StoreWrite::kUpdateJob, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return;  // as an UPDATE of a missing row: no effect
    it->second.state = job.state;
    it->second.start_ms = job.start_ms;
    it->second.end_ms = job.end_ms;
    it->second.reason = job.reason;
  });
}

StateStore::Ticket MemoryStore::UpdateTask(JobId job, const TaskRecord& task) {
  return Write(StoreWrite::kUpdateTask, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return;
    for (auto& t : it->second.tasks)
      if (t.index == task.index) t = Persisted(task);
  });
}

StateStore::Ticket MemoryStore::UpdateProgress(JobId job, int index, std::string progress) {
  return Write(StoreWrite::kUpdateProgress, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return;
    for (auto& t : it->second.tasks)
      if (t.index == index) t.progress = progress;
  });
}

StateStore::Ticket MemoryStore::UpsertNode(const NodeRecord& node) {
  return Write(StoreWrite::kUpsertNode, [&]() REQUIRES(mu_) { nodes_[node.spec.name] = node; });
}

StateStore::Ticket MemoryStore::UpdateDrain(const NodeRecord& node) {
  return Write(StoreWrite::kUpdateDrain, [&]() REQUIRES(mu_) {
    NodeRecord& n = nodes_[node.spec.name];
    if (n.spec.name.empty()) n = node;  // as the sqlite store, a drain of a node not stored
    n.drain_reason = node.drain_reason;
    n.drained_by = node.drained_by;
    n.drain_ms = node.drain_ms;
  });
}

StateStore::Ticket MemoryStore::AppendAudit(const AuditRecord& record) {
  return Write(StoreWrite::kAppendAudit, [&]() REQUIRES(mu_) { audit_.push_back(record); });
}

Result<std::vector<AuditRecord>> MemoryStore::LoadAudit(TimeMs since_ms,
                                                        const std::string& identity, int limit) {
  MutexLock lock(mu_);
  if (fail_loads_) return *fail_loads_;
  std::vector<AuditRecord> out;
  for (const auto& r : audit_)
    if (r.time_ms >= since_ms && (identity.empty() || r.identity == identity)) out.push_back(r);
  if (limit > 0 && out.size() > static_cast<size_t>(limit))
    out.erase(out.begin(), out.end() - limit);
  return out;
}

StateStore::Ticket MemoryStore::UpsertUser(const UserRecord& user) {
  return Write(StoreWrite::kUpsertUser, [&]() REQUIRES(mu_) { users_[user.name] = user; });
}

StateStore::Ticket MemoryStore::UpsertJoinToken(const JoinTokenRecord& token) {
  return Write(StoreWrite::kUpsertJoinToken,
               [&]() REQUIRES(mu_) { join_tokens_[token.hash] = token; });
}

StateStore::Ticket MemoryStore::DeleteJoinToken(const std::string& hash) {
  return Write(StoreWrite::kDeleteJoinToken, [&]() REQUIRES(mu_) { join_tokens_.erase(hash); });
}

StateStore::Ticket MemoryStore::DeleteJob(JobId job) {
  return Write(StoreWrite::kDeleteJob, [&]() REQUIRES(mu_) { jobs_.erase(job); });
}

StateStore::Ticket MemoryStore::DeleteUser(const std::string& name) {
  return Write(StoreWrite::kDeleteUser, [&]() REQUIRES(mu_) { users_.erase(name); });
}

StateStore::Ticket MemoryStore::AppendJobHistory(JobId job, TimeMs time_ms,
                                                 const std::string& text) {
  return Write(StoreWrite::kAppendJobHistory, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job);
    if (it != jobs_.end()) it->second.history.push_back(text);
  });
}

StateStore::Ticket MemoryStore::UpdatePin(const JobRecord& job) {
  return Write(StoreWrite::kUpdatePin, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return;
    it->second.pinned_node = job.pinned_node;
    it->second.migrate_reason = job.migrate_reason;
    it->second.pin_expires_ms = job.pin_expires_ms;
  });
}

StateStore::Ticket MemoryStore::UpdateHold(const JobRecord& job) {
  return Write(StoreWrite::kUpdateHold, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return;
    it->second.held_by = job.held_by;
    it->second.held_ms = job.held_ms;
  });
}

StateStore::Ticket MemoryStore::UpdatePrediction(const JobRecord& job) {
  return Write(StoreWrite::kUpdatePrediction, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(job.id);
    if (it != jobs_.end()) it->second.submit_prediction = job.submit_prediction;
  });
}

StateStore::Ticket MemoryStore::InsertUsage(const UsageRow& row) {
  return Write(StoreWrite::kInsertUsage, [&]() REQUIRES(mu_) { usage_.push_back(row); });
}

StateStore::Ticket MemoryStore::PruneUsage(TimeMs before_ms) {
  return Write(StoreWrite::kPruneUsage, [&]() REQUIRES(mu_) {
    std::erase_if(usage_, [&](const UsageRow& r) { return r.time_ms < before_ms; });
  });
}

Result<std::vector<UsageRow>> MemoryStore::LoadUsage(TimeMs since_ms) {
  MutexLock lock(mu_);
  if (fail_loads_) return *fail_loads_;
  std::vector<UsageRow> out;
  for (const auto& r : usage_)
    if (r.time_ms >= since_ms) out.push_back(r);
  std::stable_sort(out.begin(), out.end(), [](const UsageRow& a, const UsageRow& b) {
    return std::tie(a.time_ms, a.node) < std::tie(b.time_ms, b.node);
  });
  return out;
}

StateStore::Ticket MemoryStore::UpsertLimit(const LimitRecord& limit) {
  return Write(StoreWrite::kUpsertLimit,
               [&]() REQUIRES(mu_) { limits_[{limit.kind, limit.name}] = limit; });
}

StateStore::Ticket MemoryStore::DeleteLimit(const std::string& kind, const std::string& name) {
  return Write(StoreWrite::kDeleteLimit, [&]() REQUIRES(mu_) { limits_.erase({kind, name}); });
}

StateStore::Ticket MemoryStore::InsertAccounting(const AccountingRow& row) {
  return Write(StoreWrite::kInsertAccounting,
               [&]() REQUIRES(mu_) { accounting_.push_back(row); });
}

Result<std::vector<AccountingRow>> MemoryStore::LoadAccounting(TimeMs since_ms,
                                                               const std::string& user, JobId job) {
  MutexLock lock(mu_);
  if (fail_loads_) return *fail_loads_;
  std::vector<AccountingRow> out;
  for (const auto& r : accounting_)
    if (r.end_ms >= since_ms && (user.empty() || r.user == user) && (job == 0 || r.job == job))
      out.push_back(r);
  std::stable_sort(out.begin(), out.end(), [](const AccountingRow& a, const AccountingRow& b) {
    return std::tie(a.job, a.index, a.attempt) < std::tie(b.job, b.index, b.attempt);
  });
  return out;
}

Status MemoryStore::Wait(Ticket t) {
  MutexLock lock(mu_);
  auto it = failed_.find(t);
  if (it == failed_.end()) return Status::Ok();
  Status s = it->second;
  failed_.erase(it);
  return s;
}

Status MemoryStore::Flush() {
  return Status::Ok();
}

uint64_t MemoryStore::CommittedBatches() const {
  MutexLock lock(mu_);
  return static_cast<uint64_t>(committed_writes_);
}

}  // namespace muster::cluster
