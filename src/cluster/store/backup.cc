// See backup.h.
#include "cluster/store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "cluster/common/wall_time.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/store/state_store.h"

namespace muster::cluster {

namespace {

namespace fs = std::filesystem;

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

Result<DbPtr> OpenDb(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK)
    return Status::Unavailable("cannot open " + path + ": " +
                               (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, 10000);
  return db;
}

Status Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return Status::Internal("backup: " + m);
  }
  return Status::Ok();
}

Result<StmtPtr> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
    return Status::Internal(std::string("backup: ") + sqlite3_errmsg(db));
  return StmtPtr(s);
}

// The single integer a query answers, or `otherwise` when it answers no row.
Result<int64_t> QueryInt(sqlite3* db, const char* sql, int64_t otherwise) {
  auto st = Prepare(db, sql);
  if (!st.ok()) return st.status();
  int rc = sqlite3_step(st->get());
  if (rc == SQLITE_ROW) return sqlite3_column_int64(st->get(), 0);
  if (rc == SQLITE_DONE) return otherwise;
  return Status::Internal(std::string("backup: ") + sqlite3_errmsg(db));
}

Status SetInfo(sqlite3* db, const char* table, const std::string& key, int64_t value) {
  const std::string sql =
      std::string("INSERT OR REPLACE INTO ") + table + "(key, value) VALUES(?1, ?2)";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    return Status::Internal(std::string("backup: ") + sqlite3_errmsg(db));
  StmtPtr st(raw);
  sqlite3_bind_text(raw, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(raw, 2, value);
  if (sqlite3_step(raw) != SQLITE_DONE)
    return Status::Internal(std::string("backup: ") + sqlite3_errmsg(db));
  return Status::Ok();
}

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Unavailable("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status FsyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::Unavailable("cannot sync " + path);
}

Status WriteFileMode(const std::string& path, const std::string& data, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::Unavailable("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::Unavailable("cannot rename " + tmp + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<BackupInfo> InfoOf(sqlite3* db, const std::string& what) {
  auto is_backup = QueryInt(
      db, "SELECT count(*) FROM sqlite_master WHERE name IN ('backup_files', 'backup_info')", 0);
  if (!is_backup.ok() || *is_backup != 2)
    return Status::InvalidArgument(what + " is not a muster backup (muster admin backup FILE)");
  BackupInfo info;
  auto t = QueryInt(db, "SELECT value FROM backup_info WHERE key = 'time_ms'", 0);
  auto jobs = QueryInt(db, "SELECT value FROM backup_info WHERE key = 'jobs'", 0);
  auto epoch = QueryInt(db, "SELECT value FROM backup_info WHERE key = 'epoch'", 0);
  if (!t.ok() || !jobs.ok() || !epoch.ok())
    return Status::InvalidArgument(what + " is a damaged muster backup");
  info.time_ms = *t;
  info.jobs = *jobs;
  info.epoch = *epoch;
  auto files = Prepare(db, "SELECT name FROM backup_files ORDER BY name");
  if (!files.ok()) return files.status();
  while (sqlite3_step(files->get()) == SQLITE_ROW)
    info.files.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(files->get(), 0)));
  return info;
}

}  // namespace

Result<BackupInfo> WriteBackup(const std::string& state_dir, const std::string& out_path) {
  const std::string src_path = state_dir + "/" + kStoreFileName;
  if (!fs::exists(src_path)) return Status::NotFound("no state store at " + src_path);
  const std::string tmp = out_path + ".tmp";
  fs::remove(tmp);
  {  // The copy: one read transaction on a connection of its own, so the coordinator's writer
     // goes on (WAL); everything committed before it began is in it.
    auto src = OpenDb(src_path, SQLITE_OPEN_READONLY);
    if (!src.ok()) return src.status();
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
    ::close(fd);
    auto dst = OpenDb(tmp, SQLITE_OPEN_READWRITE);
    if (!dst.ok()) return dst.status();
    sqlite3_backup* b = sqlite3_backup_init(dst->get(), "main", src->get(), "main");
    if (b == nullptr) return Status::Internal(std::string("backup: ") + sqlite3_errmsg(dst->get()));
    int rc;
    while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
      return Status::Internal(std::string("backup: copying the store failed: ") +
                              sqlite3_errstr(rc));
  }
  auto dst = OpenDb(tmp, SQLITE_OPEN_READWRITE);
  if (!dst.ok()) return dst.status();
  sqlite3* db = dst->get();
  // One self-contained file: no -wal beside it.
  for (const char* sql :
       {"PRAGMA journal_mode=DELETE",
        "CREATE TABLE backup_files(name TEXT PRIMARY KEY, mode INTEGER NOT NULL, "
        "data BLOB NOT NULL)",
        "CREATE TABLE backup_info(key TEXT PRIMARY KEY, value INTEGER NOT NULL)", "BEGIN"})
    if (Status s = Exec(db, sql); !s.ok()) return s;
  BackupInfo info;
  info.time_ms = WallMs();
  auto jobs = QueryInt(db, "SELECT count(*) FROM jobs", 0);
  auto epoch = QueryInt(db, "SELECT value FROM meta WHERE key = 'epoch'", 0);
  if (!jobs.ok()) return jobs.status();
  if (!epoch.ok()) return epoch.status();
  info.jobs = *jobs;
  info.epoch = *epoch;
  for (const auto& [k, v] : {std::pair{"time_ms", info.time_ms}, std::pair{"jobs", info.jobs},
                             std::pair{"epoch", info.epoch}})
    if (Status s = SetInfo(db, "backup_info", k, v); !s.ok()) return s;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir + "/tls", ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.ends_with(".tmp")) continue;
    auto data = ReadWhole(entry.path().string());
    if (!data.ok()) return data.status();
    struct stat st {};
    ::stat(entry.path().c_str(), &st);
    auto ins = Prepare(db, "INSERT INTO backup_files(name, mode, data) VALUES(?1, ?2, ?3)");
    if (!ins.ok()) return ins.status();
    sqlite3_bind_text(ins->get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(ins->get(), 2, static_cast<int>(st.st_mode & 0777));
    sqlite3_bind_blob(ins->get(), 3, data->data(), static_cast<int>(data->size()),
                      SQLITE_TRANSIENT);
    if (sqlite3_step(ins->get()) != SQLITE_DONE)
      return Status::Internal(std::string("backup: ") + sqlite3_errmsg(db));
    info.files.push_back(name);
  }
  if (Status s = Exec(db, "COMMIT"); !s.ok()) return s;
  dst->reset();
  if (Status s = FsyncPath(tmp); !s.ok()) return s;
  if (::rename(tmp.c_str(), out_path.c_str()) != 0)
    return Status::Unavailable("cannot rename " + tmp + " to " + out_path + ": " +
                               std::strerror(errno));
  std::sort(info.files.begin(), info.files.end());
  return info;
}

Result<BackupInfo> ReadBackupInfo(const std::string& backup_path) {
  if (!fs::is_regular_file(backup_path)) return Status::NotFound("no backup file " + backup_path);
  auto db = OpenDb(backup_path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.status();
  return InfoOf(db->get(), backup_path);
}

Result<RestoreInfo> RestoreBackup(const std::string& backup_path, const std::string& state_dir) {
  auto info = ReadBackupInfo(backup_path);
  if (!info.ok()) return info.status();
  const std::string db_path = state_dir + "/" + kStoreFileName;
  if (fs::exists(db_path))
    return Status::FailedPrecondition(state_dir + " already holds a state (" + db_path +
                                      "); restore into a new directory, or move it away first");
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) return Status::Unavailable("cannot create " + state_dir + ": " + ec.message());
  ::chmod(state_dir.c_str(), 0700);
  // Work on a copy; it becomes state.db only when complete.
  const std::string tmp = db_path + ".restore";
  fs::remove(tmp, ec);
  fs::copy_file(backup_path, tmp, ec);
  if (ec) return Status::Unavailable("cannot copy " + backup_path + ": " + ec.message());
  ::chmod(tmp.c_str(), 0600);
  RestoreInfo out;
  out.backup = *info;
  {
    auto db = OpenDb(tmp, SQLITE_OPEN_READWRITE);
    if (!db.ok()) return db.status();
    sqlite3* d = db->get();
    auto check = Prepare(d, "PRAGMA quick_check");
    if (!check.ok()) return check.status();
    if (sqlite3_step(check->get()) != SQLITE_ROW ||
        std::string(reinterpret_cast<const char*>(sqlite3_column_text(check->get(), 0))) != "ok")
      return Status::InvalidArgument(backup_path + " is damaged (SQLite quick_check failed)");
    check->reset();
    // The TLS files, as they were.
    const std::string tls = state_dir + "/tls";
    fs::create_directories(tls, ec);
    ::chmod(tls.c_str(), 0711);
    auto files = Prepare(d, "SELECT name, mode, data FROM backup_files");
    if (!files.ok()) return files.status();
    while (sqlite3_step(files->get()) == SQLITE_ROW) {
      const std::string name = reinterpret_cast<const char*>(sqlite3_column_text(files->get(), 0));
      if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
        return Status::InvalidArgument(backup_path + " names a file '" + name + "' outside tls/");
      const unsigned mode = static_cast<unsigned>(sqlite3_column_int(files->get(), 1)) & 0644;
      const auto* data = static_cast<const char*>(sqlite3_column_blob(files->get(), 2));
      const int n = sqlite3_column_bytes(files->get(), 2);
      if (Status s = WriteFileMode(tls + "/" + name, std::string(data ? data : "", n), mode);
          !s.ok())
        return s;
    }
    files->reset();
    // One more epoch: what the old coordinator handed out after the backup is never reused.
    out.epoch = info->epoch + 1;
    auto next = QueryInt(d, "SELECT value FROM meta WHERE key = 'next_job_id'", 1);
    if (!next.ok()) return next.status();
    out.next_job_id = std::max<int64_t>(*next, out.epoch * kEpochJobIdBase + 1);
    for (const char* sql : {"BEGIN", "DROP TABLE backup_files", "DROP TABLE backup_info"})
      if (Status s = Exec(d, sql); !s.ok()) return s;
    if (Status s = SetInfo(d, "meta", "epoch", out.epoch); !s.ok()) return s;
    if (Status s = SetInfo(d, "meta", "next_job_id", out.next_job_id); !s.ok()) return s;
    if (Status s = Exec(d, "COMMIT"); !s.ok()) return s;
  }
  if (Status s = FsyncPath(tmp); !s.ok()) return s;
  if (::rename(tmp.c_str(), db_path.c_str()) != 0)
    return Status::Unavailable("cannot rename " + tmp + ": " + std::strerror(errno));
  return out;
}

}  // namespace muster::cluster
