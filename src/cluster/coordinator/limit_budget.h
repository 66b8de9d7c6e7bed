// LimitBudget: what is left of every user's and group's limit (LimitRecord) in one scheduling
// pass. Built from what the active jobs hold now; each job offered to the scheduler takes its
// tasks from it, so one pass cannot overshoot a limit through several jobs. A group's limit
// counts all of its members, looked up in this host's group database (once per user per pass).
//
// Not thread-safe: built and used by one scheduling pass, under the coordinator's mutex; the
// records it points to must outlive it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/coordinator/job_table.h"
#include "cluster/store/records.h"

namespace muster::cluster {

// The Unix groups `user` is in on this host (primary and supplementary); none if unknown here.
// Answers are kept for a minute, so that a pass under the coordinator's lock does not wait on the
// group database (LDAP, SSSD) for every user every time. Thread-safe.
std::vector<std::string> GroupsOf(const std::string& user);

class LimitBudget {
 public:
  // `group_of` finds a user's groups (GroupsOf; tests pass their own).
  using GroupsFn = std::vector<std::string> (*)(const std::string&);
  static LimitBudget Build(const std::map<std::pair<std::string, std::string>, LimitRecord>& limits,
                           const JobTable& jobs, GroupsFn groups_of = &GroupsOf);

  // Whether any limit exists (else every job may take everything).
  bool any() const { return !left_.empty(); }
  // How many of `want` tasks of `j` fit in what is left of its user's and groups' limits; 0 with
  // the reason in `why` ("user limit: 4 of 4 GPUs in use"). (Finds, once per user, which
  // limits apply: Build walks only the jobs that hold resources.)
  size_t Allowed(const JobRecord& j, size_t want, std::string* why);
  // `n` tasks of `j` are offered: taken from each of its limits.
  void Take(const JobRecord& j, size_t n);

 private:
  struct Left {
    const LimitRecord* limit = nullptr;
    int gpus_used = 0, jobs_used = 0;
    MilliCpu cpus_used = 0;
  };
  std::vector<Left*>& Applies(const std::string& user);

  std::map<std::pair<std::string, std::string>, Left> left_;  // by (kind, name)
  std::map<std::string, std::vector<Left*>> applies_;          // user -> its limits
  bool groups_ = false;
  GroupsFn groups_of_ = nullptr;
};

}  // namespace muster::cluster
