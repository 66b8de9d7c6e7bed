// Task output kept by the coordinator: DIR/logs/<job>/<task>.out and .err, appended with the
// bytes agents forward (TaskLog) and read back by ReadLogs. Every attempt of a task appends to
// the same files, so a retried task's log shows all of its runs in order.
// Thread-safety: Append may run concurrently for different tasks; one agent link appends a given
// task's chunks in order. Read is safe at any time (it sees whole appended chunks or none).
#pragma once

#include <cstdint>
#include <string>

#include "core/job.h"
#include "core/status.h"

namespace muster::cluster {

class LogStore {
 public:
  explicit LogStore(std::string dir) : dir_(std::move(dir)) {}

  // The folder of one job's log files.
  std::string DirOf(JobId job) const { return dir_ + "/" + std::to_string(job); }
  // Path of one task's stdout (or stderr) file.
  std::string PathOf(JobId job, int task, bool is_stderr) const;
  // Appends bytes, creating the job's folder and the file as needed.
  Status Append(JobId job, int task, bool is_stderr, const std::string& data) const;
  // Up to max_bytes from offset; empty when there is nothing (yet) at that offset.
  std::string Read(JobId job, int task, bool is_stderr, int64_t offset, int64_t max_bytes) const;

 private:
  std::string dir_;
};

}  // namespace muster::cluster
