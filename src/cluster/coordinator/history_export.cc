#include "cluster/coordinator/history_export.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cluster/common/convert.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/store/stored_spec.h"

namespace muster::cluster {

namespace {

// Owns a read-only connection and the statement being stepped.
class ReadOnlyDb {
 public:
  ~ReadOnlyDb() {
    if (stmt_) sqlite3_finalize(stmt_);
    if (db_) sqlite3_close(db_);
  }
  Status Open(const std::string& path) {
    path_ = path;
    // URI form, so mode=ro is honoured; '?' and '#' in the path would end it early.
    std::string uri = "file:";
    for (char c : path) {
      if (c == '?')
        uri += "%3f";
      else if (c == '#')
        uri += "%23";
      else if (c == '%')
        uri += "%25";
      else
        uri += c;
    }
    uri += "?mode=ro";
    int rc = sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
    if (rc != SQLITE_OK) return Error("cannot open");
    sqlite3_busy_timeout(db_, 2000);
    return Status::Ok();
  }
  Status Prepare(const char* sql) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK) return Error("cannot read");
    return Status::Ok();
  }
  // Steps the prepared statement: true on a row, false when done; error in *st.
  bool Next(Status* st) {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) *st = Error("cannot read");
    return false;
  }
  int64_t Int(int i) { return sqlite3_column_int64(stmt_, i); }
  std::string Text(int i) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, i)) : std::string();
  }

 private:
  Status Error(const std::string& what) {
    int code = db_ ? sqlite3_errcode(db_) : SQLITE_CANTOPEN;
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
      return Status::Unavailable("state store " + path_ + " is locked; try again in a moment (" +
                                 msg + ")");
    if (code == SQLITE_NOTADB)
      return Status::FailedPrecondition(path_ + " is not a muster state store (" + msg + ")");
    return Status::Unavailable(what + " state store " + path_ + ": " + msg);
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

struct TaskSpan {
  TimeMs first_start = 0;
  TimeMs last_end = 0;
};

std::string CsvSafe(std::string s) {
  for (char& c : s)
    if (c == ',' || c == '\n' || c == '\r' || c == '"') c = '_';
  return s;
}

}  // namespace

Result<std::string> FindStoreFile(const std::string& state_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const fs::path& p :
       {fs::path(state_dir) / kStoreFileName, fs::path(state_dir) / "coordinator" / kStoreFileName})
    if (fs::is_regular_file(p, ec)) return p.string();
  return Status::NotFound("no coordinator state store in " + state_dir + " (looked for " +
                          kStoreFileName + " and coordinator/" + kStoreFileName +
                          "); pass the --state-dir the coordinator or `muster up` used");
}

Result<HistoryExport> ReadJobHistory(const std::string& db_path, HistoryExportOptions options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db_path, ec))
    return Status::NotFound("no state store at " + db_path);
  ReadOnlyDb db;
  if (Status st = db.Open(db_path); !st.ok()) return st;

  // Read the version and both tables in one read transaction, so they agree.
  if (Status st = db.Prepare("BEGIN"); !st.ok()) return st;
  Status st;
  db.Next(&st);
  if (!st.ok()) return st;
  if (st = db.Prepare("PRAGMA user_version"); !st.ok()) return st;
  int64_t version = db.Next(&st) ? db.Int(0) : 0;
  if (!st.ok()) return st;
  if (version > kStoreSchemaVersion)
    return Status::FailedPrecondition("state store " + db_path + " has schema version " +
                                      std::to_string(version) + " (this muster reads up to " +
                                      std::to_string(kStoreSchemaVersion) +
                                      "); use a newer muster to export it");

  std::map<JobId, TaskSpan> spans;
  if (st = db.Prepare("SELECT job, start_ms, end_ms FROM tasks WHERE start_ms > 0 AND end_ms > 0");
      !st.ok())
    return st;
  while (db.Next(&st)) {
    TaskSpan& s = spans[db.Int(0)];
    TimeMs start = db.Int(1), end = db.Int(2);
    s.first_start = s.first_start == 0 ? start : std::min(s.first_start, start);
    s.last_end = std::max(s.last_end, end);
  }
  if (!st.ok()) return st;

  HistoryExport out;
  if (st = db.Prepare("SELECT id, spec, state, submit_ms FROM jobs ORDER BY id"); !st.ok())
    return st;
  while (db.Next(&st)) {
    JobId id = db.Int(0);
    auto state = ParseJobState(db.Text(2));
    if (!state || *state == JobState::kPending || *state == JobState::kRunning) {
      ++out.skipped_unfinished;
      continue;
    }
    if (*state == JobState::kCancelled) {
      ++out.skipped_cancelled;
      continue;
    }
    TimeMs submit = db.Int(3);
    if (submit < options.since_ms) {
      ++out.skipped_before_since;
      continue;
    }
    auto span = spans.find(id);
    if (span == spans.end() || span->second.last_end <= span->second.first_start) {
      ++out.skipped_never_started;
      continue;
    }
    auto spec = DecodeStoredSpec(db.Text(1));
    if (!spec.ok())
      return Status::Internal("state store " + db_path + ": job " + std::to_string(id) + ": " +
                              spec.status().message());
    int gpus = spec->TaskCount() * spec->resources.gpus;
    if (gpus < 1) {
      ++out.skipped_no_gpus;
      continue;
    }
    out.rows.push_back({.job = id,
                        .submit_ms = submit,
                        .duration_ms = span->second.last_end - span->second.first_start,
                        .gpus = gpus,
                        .user = CsvSafe(spec->user),
                        .priority = spec->priority,
                        .checkpointable = spec->checkpointable});
  }
  if (!st.ok()) return st;
  std::stable_sort(out.rows.begin(), out.rows.end(), [](const HistoryRow& a, const HistoryRow& b) {
    return a.submit_ms < b.submit_ms;
  });
  return out;
}

void WriteHistoryCsv(const std::vector<HistoryRow>& rows, std::ostream& out) {
  out << "submit_time_s,duration_s,gpus,user,priority,checkpointable\n";
  const TimeMs first = rows.empty() ? 0 : rows.front().submit_ms;
  char buf[64];
  for (const HistoryRow& r : rows) {
    std::snprintf(buf, sizeof buf, "%.3f,%.3f,", static_cast<double>(r.submit_ms - first) / 1000.0,
                  static_cast<double>(r.duration_ms) / 1000.0);
    out << buf << r.gpus << ',' << r.user << ',' << r.priority << ',' << (r.checkpointable ? 1 : 0)
        << '\n';
  }
}

}  // namespace muster::cluster
