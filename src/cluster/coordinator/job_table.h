// JobTable: the coordinator's jobs and their tasks, and the one place their states change.
//
// Every task and job state change goes through SetTaskState / SetJobState, which check the core
// state machine (core/job.h CheckTransition): an illegal transition is refused with a
// kFailedPrecondition Status, the record is left unchanged, and it is counted
// (illegal_transitions(), which the coordinator's tests require to stay 0). A gang that has
// stopped restarts or ends as a whole through FinishGangStop, the one sanctioned exception to the
// per-task rules (its finished ranks run again, or fail with it).
//
// The table keeps what the states imply:
//   * active(): the jobs that are not terminal or still hold resources (what the scheduling
//     pass and the failure detector walk), maintained by SetActive from the coordinator's
//     reconciliation;
//   * the ClusterState: a task that becomes launching or running holds j.spec->resources on
//     t.node with t.gpus, and releases them when it stops (set node and GPUs first);
//   * parked jobs: a pending job found waiting (for a dependency, a singleton's earlier
//     namesake, or a release) is parked on what it waits for, and the passes between prediction
//     passes skip it at the cost of one lookup. It is woken when that job reaches a terminal
//     state or is erased, or by Unpark (a release); prediction passes look at every job anyway,
//     so one woken late by a missed cause waits at most until the next of those.
// Ids come from ReserveId and are never reused; Load (recovery) takes stored records as they are.
//
// Not thread-safe: owned by the Coordinator and used under its mutex.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "cluster/coordinator/cluster_state.h"
#include "cluster/store/records.h"
#include "core/status.h"

namespace muster::cluster {

// How a stopped gang goes on.
enum class GangOutcome { kRetry, kCancel, kFail, kTimeout };

class JobTable {
 public:
  // REQUIRES: `cluster` outlives the table.
  explicit JobTable(ClusterState* cluster) : cluster_(cluster) {}

  // A job read from the store, as it is: active tasks hold their node's resources.
  JobRecord& Load(JobRecord j);
  // The id for a new job; never handed out twice, never below a loaded job's.
  JobId ReserveId() { return next_id_++; }
  // Ids below `next` are never handed out (the store's persisted counter).
  void ReserveUpTo(JobId next) { next_id_ = std::max(next_id_, next); }
  // A new job (stored already); all of its tasks pending.
  JobRecord& Add(JobRecord j);

  JobRecord* Find(JobId id);
  const JobRecord* Find(JobId id) const;
  // REQUIRES: the job exists.
  JobRecord& Get(JobId id) { return jobs_.at(id); }
  const JobRecord& Get(JobId id) const { return jobs_.at(id); }
  static TaskRecord* FindTask(JobRecord& j, int index);
  static const TaskRecord* FindTask(const JobRecord& j, int index);
  const std::map<JobId, JobRecord>& all() const { return jobs_; }
  size_t size() const { return jobs_.size(); }

  const std::set<JobId>& active() const { return active_; }
  // The active jobs with a launching or running task (what liveness checks, held shares and
  // limits count), and the active jobs that are not parked (what a pass between prediction
  // passes looks at): kept on every change, so walking them costs O(them), not O(jobs).
  const std::set<JobId>& holding() const { return holding_; }
  const std::set<JobId>& unparked() const { return unparked_; }
  // True if the job was active and no longer is.
  bool SetActive(JobId id, bool active);
  // Forgets a job that has ended (retention); false, and nothing changes, for one still active.
  bool Erase(JobId id);
  // The job that `user`'s submission with `request_id` (JobSpec::request_id) made; 0 = none.
  JobId FindRequest(const std::string& user, const std::string& request_id) const;

  Status SetTaskState(JobRecord& j, TaskRecord& t, TaskState to);
  Status SetJobState(JobRecord& j, JobState to);
  // Ends the stop of a gang none of whose ranks is active: kRetry makes every rank pending again
  // (finished ones too), kCancel cancels the ranks not done, kFail fails every rank that has not
  // failed, kTimeout times out every rank that has not succeeded. Refused (nothing changes) for a job that is not a gang or still has an active rank.
  Status FinishGangStop(JobRecord& j, GangOutcome outcome);

  int illegal_transitions() const { return illegal_; }

  // Parks `id` on job `on` (0: on nothing but an Unpark, e.g. a hold); replaces an earlier park.
  // Park, Unpark and Parked cost O(1); waking the jobs parked on one costs O(them).
  void Park(JobId id, JobId on);
  void Unpark(JobId id);
  bool Parked(JobId id) const { return parked_.count(id) > 0; }
  size_t parked() const { return parked_.size(); }

  // Recomputes a job's counts and index sets from its tasks (JobRecord::counts and friends).
  static void Recount(JobRecord& j);

 private:
  void Track(const JobRecord& j, const TaskRecord& t, bool was_active);
  // Keeps holding_ after j's counts changed.
  void Index(const JobRecord& j);
  Status Refuse(Status why);
  // Unparks every job parked on `on`.
  void Wake(JobId on);
  void RemoveWaiter(JobId on, JobId id);

  ClusterState* cluster_;
  std::map<JobId, JobRecord> jobs_;
  std::set<JobId> active_;
  std::set<JobId> holding_;
  std::set<JobId> unparked_;  // active_ minus parked_
  // (user, request id) -> job, for every job that has a request id.
  std::map<std::pair<std::string, std::string>, JobId> requests_;
  std::unordered_map<JobId, JobId> parked_;                        // parked -> what it waits on
  std::unordered_map<JobId, std::unordered_set<JobId>> waiting_on_;  // what it waits on -> parked
  JobId next_id_ = 1;
  int illegal_ = 0;
};

}  // namespace muster::cluster
