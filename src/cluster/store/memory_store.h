// MemoryStore: a StateStore (state_store.h) held in memory, for tests. Writes apply at once, in
// order, each in its own "transaction" (one write, one batch). Its purpose is fault injection:
// a test makes writes fail (all of them, the next n, or only those of one kind) and makes
// LoadAll fail, then checks what the coordinator does about it. A failed write changes nothing.
// Contents() shows what a restarted coordinator would load.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/common/mutex.h"
#include "cluster/store/state_store.h"

namespace muster::cluster {

// The kinds of write, for targeted failures.
enum class StoreWrite {
  kInsertJob,
  kUpdateJob,
  kUpdateTask,
  kUpdateProgress,
  kUpsertNode,
  kUpdateDrain,
  kAppendJobHistory,
  kUpdatePin,
  kUpdateHold,
  kUpdatePrediction,
  kInsertUsage,
  kPruneUsage,
  kUpsertUser,
  kDeleteUser,
  kDeleteJob,
  kUpsertJoinToken,
  kDeleteJoinToken,
  kAppendAudit,
  kInsertAccounting,
  kUpsertLimit,
  kDeleteLimit,
};

class MemoryStore final : public StateStore {
 public:
  MemoryStore() = default;
  // Starts from these contents (what an earlier store held).
  explicit MemoryStore(StoreContents contents);

  // ---- fault injection
  // Every later write fails with `why` until Heal(); `only` restricts it to one kind of write.
  void FailWrites(Status why, std::optional<StoreWrite> only = std::nullopt);
  // The next `n` writes (of kind `only`, if given) fail with `why`, then writes succeed again.
  void FailNextWrites(int n, Status why, std::optional<StoreWrite> only = std::nullopt);
  // LoadAll and LoadUsage fail with `why` until Heal().
  void FailLoads(Status why);
  void Heal();
  // Writes that failed so far, and writes that succeeded.
  int failed_writes() const;
  int committed_writes() const;

  // What a restarted coordinator would load (the same as LoadAll, ignoring injected failures).
  StoreContents Contents() const;

  Result<StoreContents> LoadAll() override;
  Ticket InsertJob(const JobRecord& job) override;
  Ticket UpdateJob(const JobRecord& job) override;
  Ticket UpdateTask(JobId job, const TaskRecord& task) override;
  Ticket UpdateProgress(JobId job, int index, std::string progress) override;
  Ticket UpsertNode(const NodeRecord& node) override;
  Ticket UpdateDrain(const NodeRecord& node) override;
  Ticket AppendJobHistory(JobId job, TimeMs time_ms, const std::string& text) override;
  Ticket UpdatePin(const JobRecord& job) override;
  Ticket UpdateHold(const JobRecord& job) override;
  Ticket UpdatePrediction(const JobRecord& job) override;
  Ticket UpsertUser(const UserRecord& user) override;
  Ticket DeleteUser(const std::string& name) override;
  Ticket DeleteJob(JobId job) override;
  Ticket UpsertJoinToken(const JoinTokenRecord& token) override;
  Ticket DeleteJoinToken(const std::string& hash) override;
  Ticket AppendAudit(const AuditRecord& record) override;
  Result<std::vector<AuditRecord>> LoadAudit(TimeMs since_ms, const std::string& identity,
                                             int limit) override;
  Ticket InsertUsage(const UsageRow& row) override;
  Ticket PruneUsage(TimeMs before_ms) override;
  Result<std::vector<UsageRow>> LoadUsage(TimeMs since_ms) override;
  Ticket UpsertLimit(const LimitRecord& limit) override;
  Ticket DeleteLimit(const std::string& kind, const std::string& name) override;
  Ticket InsertAccounting(const AccountingRow& row) override;
  Result<std::vector<AccountingRow>> LoadAccounting(TimeMs since_ms, const std::string& user,
                                                    JobId job) override;
  Status Wait(Ticket t) override;
  Status Flush() override;
  uint64_t CommittedBatches() const override;
  uint64_t FailedWrites() const override;
  Status LastWriteError() const override;

 private:
  // Applies one write unless a failure is injected for it; returns its ticket.
  template <typename Apply>
  Ticket Write(StoreWrite kind, Apply&& apply) EXCLUDES(mu_);
  StoreContents ContentsLocked() const REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<JobId, JobRecord> jobs_ GUARDED_BY(mu_);  // records as persisted
  std::map<std::string, NodeRecord> nodes_ GUARDED_BY(mu_);
  std::vector<UsageRow> usage_ GUARDED_BY(mu_);
  std::vector<AccountingRow> accounting_ GUARDED_BY(mu_);
  std::map<std::string, UserRecord> users_ GUARDED_BY(mu_);
  std::map<std::string, JoinTokenRecord> join_tokens_ GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, LimitRecord> limits_ GUARDED_BY(mu_);
  std::vector<AuditRecord> audit_ GUARDED_BY(mu_);
  JobId next_job_id_ GUARDED_BY(mu_) = 1;
  int64_t epoch_ GUARDED_BY(mu_) = 0;
  Ticket next_ticket_ GUARDED_BY(mu_) = 1;
  std::map<Ticket, Status> failed_ GUARDED_BY(mu_);  // failed writes not yet waited on
  std::optional<Status> fail_all_ GUARDED_BY(mu_);
  std::optional<StoreWrite> fail_only_ GUARDED_BY(mu_);
  int fail_next_ GUARDED_BY(mu_) = 0;
  Status fail_next_why_ GUARDED_BY(mu_);
  std::optional<StoreWrite> fail_next_only_ GUARDED_BY(mu_);
  std::optional<Status> fail_loads_ GUARDED_BY(mu_);
  int failed_writes_ GUARDED_BY(mu_) = 0;
  Status last_error_ GUARDED_BY(mu_);
  int committed_writes_ GUARDED_BY(mu_) = 0;
};

}  // namespace muster::cluster
