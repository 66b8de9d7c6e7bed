// Backups of a coordinator's state, taken while it runs, and their restore.
//
// A backup is one SQLite file (mode 0600): a consistent copy of <state dir>/state.db made with
// SQLite's online backup API from a read-only connection of its own (in WAL mode the coordinator
// goes on writing meanwhile; the copy holds every write committed before it began), plus
//   backup_files(name TEXT PRIMARY KEY, mode INTEGER, data BLOB)  -- the files of <state dir>/tls:
//                                                                   the cluster CA and the
//                                                                   coordinator's key and
//                                                                   certificate
//   backup_info(key TEXT PRIMARY KEY, value INTEGER)             -- time_ms, jobs, epoch
// It holds the CA key, every user's token hash and every job's environment: keep it as safe as
// the state dir itself.
//
// Restoring writes a state dir from a backup: state.db and tls/ as they were, and one more
// epoch (meta key 'epoch'). The jobs and attempts the old coordinator started after the backup
// are unknown to the restored one, so it hands out new job ids above epoch x kEpochJobIdBase and
// new attempts above epoch x kEpochAttemptBase (state_store.h): none is ever handed out twice,
// and an agent still running a task attempt started after the backup gets it killed when it
// registers (an attempt the coordinator does not know), while the coordinator runs the task
// again as a new attempt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace muster::cluster {

struct BackupInfo {
  int64_t time_ms = 0;  // when the copy was taken
  int64_t jobs = 0;
  int64_t epoch = 0;               // of the state copied
  std::vector<std::string> files;  // of tls/, by name
};

// Writes a backup of the state dir to `out_path` (atomically: a temporary file renamed into
// place). The state dir's coordinator may be running.
Result<BackupInfo> WriteBackup(const std::string& state_dir, const std::string& out_path);

// Reads what a backup holds; InvalidArgument for a file that is not a muster backup.
Result<BackupInfo> ReadBackupInfo(const std::string& backup_path);

struct RestoreInfo {
  BackupInfo backup;
  int64_t epoch = 0;        // of the restored state
  int64_t next_job_id = 0;  // the first id the restored coordinator hands out
};

// Makes `state_dir` (0700) from a backup. Refuses (FailedPrecondition) a state dir that already
// holds a state.db: restore into a new one, or move the old one away first.
Result<RestoreInfo> RestoreBackup(const std::string& backup_path, const std::string& state_dir);

}  // namespace muster::cluster
