#include "cluster/coordinator/job_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace muster::cluster {

namespace {

void Count(JobRecord& j, const TaskRecord& t, int sign) {
  JobRecord::Counts& c = j.counts;
  if (t.state == TaskState::kPending) {
    c.pending += sign;
    if (sign > 0)
      j.pending_tasks.insert(t.index);
    else
      j.pending_tasks.erase(t.index);
  }
  if (t.Active()) {
    c.active += sign;
    if (sign > 0)
      j.active_tasks.insert(t.index);
    else
      j.active_tasks.erase(t.index);
  }
  if (t.state == TaskState::kSucceeded) c.succeeded += sign;
  if (t.state == TaskState::kFailed || t.state == TaskState::kOom) c.failed += sign;
  if (t.state == TaskState::kOom) c.oom += sign;
  if (t.state == TaskState::kTimeout) c.timeout += sign;
  if (t.Done()) c.done += sign;
}

}  // namespace

void JobTable::Recount(JobRecord& j) {
  j.counts = {};
  j.pending_tasks.clear();
  j.active_tasks.clear();
  for (const auto& t : j.tasks) Count(j, t, +1);
}

JobRecord& JobTable::Load(JobRecord j) {
  next_id_ = std::max(next_id_, j.id + 1);
  const JobId id = j.id;
  JobRecord& job = jobs_.insert_or_assign(id, std::move(j)).first->second;
  Recount(job);
  Index(job);
  if (!job.spec->request_id.empty()) requests_[{job.spec->user, job.spec->request_id}] = id;
  for (const auto& t : job.tasks)
    if (t.Active()) cluster_->Hold(t.node, {id, t.index}, job.spec->resources, t.gpus);
  return job;
}

JobRecord& JobTable::Add(JobRecord j) {
  next_id_ = std::max(next_id_, j.id + 1);
  const JobId id = j.id;
  JobRecord& job = jobs_.insert_or_assign(id, std::move(j)).first->second;
  Recount(job);
  Index(job);
  if (!job.spec->request_id.empty()) requests_[{job.spec->user, job.spec->request_id}] = id;
  SetActive(id, true);
  return job;
}

JobRecord* JobTable::Find(JobId id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const JobRecord* JobTable::Find(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

TaskRecord* JobTable::FindTask(JobRecord& j, int index) {
  // tasks[i] has index spec->TaskIndex(i): an array's indices are first, first+1, ...
  int64_t slot = index - (j.spec->array.empty() ? 0 : j.spec->array.first);
  if (slot < 0 || slot >= static_cast<int64_t>(j.tasks.size())) return nullptr;
  TaskRecord& t = j.tasks[static_cast<size_t>(slot)];
  return t.index == index ? &t : nullptr;
}

const TaskRecord* JobTable::FindTask(const JobRecord& j, int index) {
  return FindTask(const_cast<JobRecord&>(j), index);
}

bool JobTable::SetActive(JobId id, bool active) {
  if (active) {
    active_.insert(id);
    if (!parked_.count(id)) unparked_.insert(id);
    return false;
  }
  unparked_.erase(id);
  return active_.erase(id) > 0;
}

void JobTable::Index(const JobRecord& j) {
  if (j.counts.active > 0)
    holding_.insert(j.id);
  else
    holding_.erase(j.id);
}

bool JobTable::Erase(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || active_.count(id) || !IsTerminal(it->second.state)) return false;
  if (const JobSpec& spec = *it->second.spec; !spec.request_id.empty())
    requests_.erase({spec.user, spec.request_id});
  jobs_.erase(it);
  holding_.erase(id);
  Unpark(id);
  unparked_.erase(id);
  Wake(id);  // a dependency that is gone: its dependents fail (or go on) at their next look
  return true;
}

void JobTable::Park(JobId id, JobId on) {
  auto [it, fresh] = parked_.try_emplace(id, on);
  unparked_.erase(id);
  if (!fresh) {
    if (it->second == on) return;
    RemoveWaiter(it->second, id);
    it->second = on;
  }
  waiting_on_[on].insert(id);
}

void JobTable::Unpark(JobId id) {
  auto it = parked_.find(id);
  if (it == parked_.end()) return;
  RemoveWaiter(it->second, id);
  parked_.erase(it);
  if (active_.count(id)) unparked_.insert(id);
}

void JobTable::RemoveWaiter(JobId on, JobId id) {
  auto w = waiting_on_.find(on);
  if (w == waiting_on_.end()) return;
  w->second.erase(id);
  if (w->second.empty()) waiting_on_.erase(w);
}

void JobTable::Wake(JobId on) {
  auto w = waiting_on_.find(on);
  if (w == waiting_on_.end()) return;
  for (JobId id : w->second) {
    parked_.erase(id);
    if (active_.count(id)) unparked_.insert(id);
  }
  waiting_on_.erase(w);
}

JobId JobTable::FindRequest(const std::string& user, const std::string& request_id) const {
  auto it = requests_.find({user, request_id});
  return it == requests_.end() ? 0 : it->second;
}

Status JobTable::Refuse(Status why) {
  ++illegal_;
  spdlog::error("{} (a bug: the change was not made)", why.message());
  return why;
}

void JobTable::Track(const JobRecord& j, const TaskRecord& t, bool was_active) {
  if (was_active == t.Active()) return;
  if (t.Active())
    cluster_->Hold(t.node, {j.id, t.index}, j.spec->resources, t.gpus);
  else
    cluster_->Release(t.node, {j.id, t.index});
}

Status JobTable::SetTaskState(JobRecord& j, TaskRecord& t, TaskState to) {
  if (Status s = CheckTransition(t.state, to); !s.ok())
    return Refuse(Status::FailedPrecondition("task " + TaskRef{j.id, t.index}.ToString() + ": " +
                                             s.message()));
  const bool was_active = t.Active();
  Count(j, t, -1);
  t.state = to;
  Count(j, t, +1);
  Track(j, t, was_active);
  if (was_active != t.Active()) Index(j);
  return Status::Ok();
}

Status JobTable::SetJobState(JobRecord& j, JobState to) {
  if (to == j.state) return Status::Ok();
  if (Status s = CheckTransition(j.state, to); !s.ok())
    return Refuse(Status::FailedPrecondition("job " + std::to_string(j.id) + ": " + s.message()));
  j.state = to;
  if (IsTerminal(to)) {
    Unpark(j.id);
    Wake(j.id);  // what waited for it can go on (or fail) now
  }
  return Status::Ok();
}

Status JobTable::FinishGangStop(JobRecord& j, GangOutcome outcome) {
  if (!j.spec->gang)
    return Refuse(Status::FailedPrecondition("job " + std::to_string(j.id) +
                                             ": a gang stop for a job that is not a gang"));
  for (const auto& t : j.tasks)
    if (t.Active())
      return Refuse(Status::FailedPrecondition("job " + std::to_string(j.id) +
                                               ": gang stop finished while rank " +
                                               std::to_string(t.index) + " is still active"));
  for (auto& t : j.tasks) {
    switch (outcome) {
      case GangOutcome::kRetry:
        t.state = TaskState::kPending;
        break;
      case GangOutcome::kCancel:
        if (!t.Done()) t.state = TaskState::kCancelled;
        break;
      case GangOutcome::kFail:
        if (t.state != TaskState::kOom) t.state = TaskState::kFailed;  // the rank that ran out
        break;
      case GangOutcome::kTimeout:
        if (t.state != TaskState::kSucceeded) t.state = TaskState::kTimeout;
        break;
    }
  }
  Recount(j);
  Index(j);
  return Status::Ok();
}

}  // namespace muster::cluster
