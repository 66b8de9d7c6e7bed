// Retention of finished jobs: Coordinator::CollectGarbage (coordinator.h).
#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

namespace {

// Bytes under `path` (a file or a folder), 0 if it is not there.
int64_t BytesUnder(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec))
    return static_cast<int64_t>(std::filesystem::file_size(path, ec));
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  return total;
}

}  // namespace

Result<GcReport> Coordinator::CollectGarbage(DurationMs older_than_ms, bool dry_run) {
  const TimeMs before_ms = clock_->NowMs() - older_than_ms;
  if (!dry_run)
    if (Status w = Writable(); !w.ok()) return w;
  GcReport report;
  report.before_ms = before_ms;
  std::vector<JobId> removed;
  std::vector<StateStore::Ticket> tickets;
  {
    MutexLock lock(mu_);
    // Named in --after/--afterany/--afternotok by a job with tasks still to start (each start checks its dependencies).
    std::set<JobId> needed;
    for (JobId id : jobs_.active()) {
      const JobRecord& j = jobs_.Get(id);
      if (!j.pending_tasks.empty())
        for (const auto* list : {&j.spec->after, &j.spec->after_any, &j.spec->after_notok})
          for (JobId dep : *list) needed.insert(dep);
    }
    for (const auto& [id, j] : jobs_.all()) {
      if (!IsTerminal(j.state) || j.end_ms <= 0 || j.end_ms >= before_ms ||
          jobs_.active().count(id))
        continue;
      if (needed.count(id)) {
        ++report.kept_for_dependents;
        continue;
      }
      removed.push_back(id);
      report.tasks += static_cast<int64_t>(j.tasks.size());
    }
    report.jobs = static_cast<int64_t>(removed.size());
    if (!dry_run) {
      for (JobId id : removed) {
        tickets.push_back(store_->DeleteJob(id));  // queued in order, under mu_
        jobs_.Erase(id);
        for (auto it = late_reports_.lower_bound({id, 0, 0});
             it != late_reports_.end() && std::get<0>(*it) == id;)
          it = late_reports_.erase(it);
      }
    }
  }
  const std::string checkpoints = options_.state_dir + "/checkpoints/";
  for (JobId id : removed) {
    report.bytes += BytesUnder(logs_.DirOf(id)) + BytesUnder(checkpoints + std::to_string(id));
    if (dry_run) continue;
    std::error_code ec;
    std::filesystem::remove_all(logs_.DirOf(id), ec);
    std::filesystem::remove_all(checkpoints + std::to_string(id), ec);
  }
  Status stored = Status::Ok();
  for (auto t : tickets)
    if (Status s = store_->Wait(t); !s.ok() && stored.ok()) stored = s;
  // Gone from memory either way; a row the store kept is removed again by the next collection
  // after a restart.
  if (!stored.ok()) return Status(stored.code(), "removing finished jobs: " + stored.message());
  return report;
}

}  // namespace muster::cluster
