// Export of finished jobs from the coordinator's state store as a muster CSV trace (the format
// `muster sim --trace FILE --format csv` reads, see src/sim/io/trace_reader.h), so a site can
// replay its own history in the simulator.
//
// Algorithm: open state.db read-only (SQLite URI mode=ro; never creates, never writes, so it is
// safe while the coordinator runs: WAL readers do not block its writer), check the schema
// version, read jobs and tasks in id order, keep the jobs that ended succeeded or failed, and for
// each one compute
//   duration = latest task end_ms - earliest task start_ms (tasks that started and ended),
//   gpus     = spec.TaskCount() * spec.resources.gpus.
// Skipped: cancelled jobs, jobs still pending or running, jobs with no task that ran (never
// started, e.g. a failed dependency), jobs that asked for no GPUs (the simulator models GPU jobs
// only), and jobs submitted before since_ms. Submit times are written in seconds relative to the
// first exported job. Commas and line breaks in user names are replaced by '_'.
//
// Assumptions: the store layout of store.h, schema version <= kStoreSchemaVersion.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "cluster/store/sqlite_store.h"  // kStoreFileName
#include "core/clock.h"
#include "core/job.h"
#include "core/status.h"

namespace muster::cluster {

struct HistoryExportOptions {
  TimeMs since_ms = 0;  // export jobs submitted at or after this time (0 = all)
};

// One exported job, in CSV column order.
struct HistoryRow {
  JobId job = 0;
  TimeMs submit_ms = 0;  // absolute; the CSV holds it relative to the first row
  int64_t duration_ms = 0;
  int gpus = 0;
  std::string user;
  int priority = 0;
  bool checkpointable = false;
};

struct HistoryExport {
  std::vector<HistoryRow> rows;  // by submit time, then id
  int64_t skipped_cancelled = 0;
  int64_t skipped_unfinished = 0;     // pending or running
  int64_t skipped_never_started = 0;  // finished with no task that ran
  int64_t skipped_no_gpus = 0;
  int64_t skipped_before_since = 0;
};

// The store file for a coordinator state dir or a `muster up` state dir (DIR/coordinator/).
// kNotFound names both places when neither holds one.
Result<std::string> FindStoreFile(const std::string& state_dir);

// Reads the finished jobs of the store at `db_path` read-only. kNotFound: no file there;
// kUnavailable: locked or unreadable; kFailedPrecondition: written by a newer muster.
Result<HistoryExport> ReadJobHistory(const std::string& db_path, HistoryExportOptions options = {});

// Writes the header submit_time_s,duration_s,gpus,user,priority,checkpointable and one row each.
void WriteHistoryCsv(const std::vector<HistoryRow>& rows, std::ostream& out);

}  // namespace muster::cluster
