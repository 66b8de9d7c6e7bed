// Expected-time-to-compute (ETC) matrices and the schedules built over them.
//
// An ETC matrix gives etc(t, m), the expected run time of task t on machine m, for a batch of
// independent tasks on heterogeneous machines (Braun et al., 2001). All machines are free at
// time 0; each runs its tasks one after the other. A schedule maps every task to one machine;
// its makespan is the largest machine completion time.
//
// Text format (Braun et al.; the instances in shared/data/etc): a header line
// "<tasks> <machines> [<x>]" (the optional third field, 0 in the standard instances, is ignored),
// then tasks x machines non-negative numbers, task-major (task 0 on machines 0..M-1, then task 1,
// ...), separated by whitespace (normally one per line). '#' starts a comment.
// Pure: parsing takes the text, not a file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace muster::sched {

class EtcMatrix {
 public:
  EtcMatrix() = default;
  // REQUIRES: values.size() == tasks * machines, all finite and >= 0.
  EtcMatrix(int tasks, int machines, std::vector<double> values)
      : tasks_(tasks), machines_(machines), values_(std::move(values)) {}

  int tasks() const { return tasks_; }
  int machines() const { return machines_; }
  double At(int task, int machine) const {
    return values_[static_cast<size_t>(task) * machines_ + machine];
  }
  const double* Row(int task) const {
    return values_.data() + static_cast<size_t>(task) * machines_;
  }

 private:
  int tasks_ = 0;
  int machines_ = 0;
  std::vector<double> values_;
};

// Parses the text format above. Errors name the offending line.
Result<EtcMatrix> ParseEtc(std::string_view text);

// One row of the schedule table: task runs on machine from start to finish.
struct EtcAssignment {
  int task = 0;
  int machine = 0;
  double start = 0;
  double finish = 0;
};

struct EtcSchedule {
  std::string heuristic;
  std::vector<int> machine_of;         // task -> machine
  std::vector<EtcAssignment> rows;     // in the order the tasks were assigned
  std::vector<double> machine_finish;  // completion time (= busy time) of each machine
  double makespan = 0;
  double flowtime = 0;  // sum of task finish times
};

// Builds the schedule table from tasks assigned in `order` (each task exactly once) to
// machine_of[task]; each machine runs its tasks in that order starting at time 0.
EtcSchedule BuildEtcSchedule(const EtcMatrix& etc, const std::vector<int>& machine_of,
                             const std::vector<int>& order, std::string heuristic);

// Machine completion times of an assignment (task -> machine).
std::vector<double> MachineLoads(const EtcMatrix& etc, const std::vector<int>& machine_of);

}  // namespace muster::sched
