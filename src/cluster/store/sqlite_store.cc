#include "cluster/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "cluster/common/convert.h"
#include "cluster/store/gpu_list.h"
#include "cluster/store/stored_spec.h"

namespace muster::cluster {

// ------------------------------------------------------------------------------ Db and Stmt

// One prepared statement; reset and cleared on every use.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Runs a statement that returns no rows.
  Status Exec() {
    int rc = sqlite3_step(s_);
    Status st = rc == SQLITE_DONE ? Status::Ok()
                                  : Status::Internal(std::string("store: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return st;
  }
  // Steps a query; true while a row is available. A step that fails ends the rows too: check
  // Finish() after the loop, so that a damaged table is never read as a short one.
  bool Next() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) error_ = Status::Internal(std::string("store: ") + sqlite3_errmsg(db_));
    return false;
  }
  // Ends a query: resets the statement; the error that ended its rows, or Ok.
  Status Finish() {
    Status e = error_;
    error_ = Status::Ok();
    Done();
    return e;
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  double ColReal(int i) { return sqlite3_column_double(s_, i); }
  std::string ColText(int i) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, sqlite3_column_bytes(s_, i)) : std::string();
  }
  std::string ColBlob(int i) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, sqlite3_column_bytes(s_, i)) : std::string();
  }
  void Done() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
  Status error_;
};

class Db {
 public:
  explicit Db(sqlite3* db) : db_(db) {}
  ~Db() {
    for (auto& [sql, s] : cache_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "unknown error";
      sqlite3_free(err);
      return Status::Internal(std::string("store: ") + m);
    }
    return Status::Ok();
  }
  // The cached prepared statement for `sql` (a string literal: cached by address).
  Result<Stmt> Prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
        return Status::Internal(std::string("store: ") + sqlite3_errmsg(db_));
      it = cache_.emplace(sql, s).first;
    }
    return Stmt(db_, it->second);
  }
  sqlite3* raw() { return db_; }

 private:
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY, spec BLOB NOT NULL, state TEXT NOT NULL,
  submit_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
  reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks(
  job INTEGER NOT NULL, idx INTEGER NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL,
  node TEXT NOT NULL, gpus TEXT NOT NULL, exit_code INTEGER NOT NULL, retries INTEGER NOT NULL,
  lost_requeues INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
  message TEXT NOT NULL, progress BLOB NOT NULL, peak_mib INTEGER NOT NULL DEFAULT 0,
  cpu_s REAL NOT NULL DEFAULT -1, PRIMARY KEY(job, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes(
  name TEXT PRIMARY KEY, spec BLOB NOT NULL, last_seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS job_history(
  job INTEGER NOT NULL, time_ms INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_history_job ON job_history(job);
CREATE TABLE IF NOT EXISTS usage_history(
  node TEXT NOT NULL, time_ms INTEGER NOT NULL, predicted REAL NOT NULL, measured REAL NOT NULL,
  load REAL NOT NULL, cpu_load REAL NOT NULL);
CREATE INDEX IF NOT EXISTS usage_history_time ON usage_history(time_ms);
CREATE TABLE IF NOT EXISTS node_drains(
  name TEXT PRIMARY KEY, reason TEXT NOT NULL, by_whom TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS job_holds(
  job INTEGER PRIMARY KEY, by_whom TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS job_predictions(
  job INTEGER PRIMARY KEY, made_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL,
  finish_ms INTEGER NOT NULL, low_s REAL NOT NULL, high_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS job_pins(
  job INTEGER PRIMARY KEY, node TEXT NOT NULL, migrate_reason TEXT NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  time_ms INTEGER NOT NULL, identity TEXT NOT NULL, role TEXT NOT NULL, via TEXT NOT NULL,
  peer TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY, role TEXT NOT NULL, token_hash TEXT NOT NULL,
  created_ms INTEGER NOT NULL, cert_fp TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS join_tokens(
  hash TEXT PRIMARY KEY, node TEXT NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounting(
  job INTEGER NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, user TEXT NOT NULL,
  name TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, exit_code INTEGER NOT NULL,
  submit_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
  gpus INTEGER NOT NULL, milli_cpus INTEGER NOT NULL, cpu_s REAL NOT NULL,
  peak_mib INTEGER NOT NULL, gpu_util REAL NOT NULL, energy_wh REAL NOT NULL,
  PRIMARY KEY(job, idx, attempt)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS accounting_end ON accounting(end_ms);
CREATE TABLE IF NOT EXISTS limits(
  kind TEXT NOT NULL, name TEXT NOT NULL, max_gpus INTEGER NOT NULL,
  max_milli_cpus INTEGER NOT NULL, max_jobs INTEGER NOT NULL, set_by TEXT NOT NULL,
  set_ms INTEGER NOT NULL, PRIMARY KEY(kind, name)) WITHOUT ROWID;
)sql";
constexpr const char* kUpsertLimit =
    "INSERT OR REPLACE INTO limits(kind, name, max_gpus, max_milli_cpus, max_jobs, set_by, "
    "set_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kDeleteLimit = "DELETE FROM limits WHERE kind = ?1 AND name = ?2";
constexpr const char* kInsertAccounting =
    "INSERT OR REPLACE INTO accounting(job, idx, attempt, user, name, node, state, exit_code, "
    "submit_ms, start_ms, end_ms, gpus, milli_cpus, cpu_s, peak_mib, gpu_util, energy_wh) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
constexpr const char* kAppendAudit =
    "INSERT INTO audit(time_ms, identity, role, via, peer, action, target, result) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char* kBumpNextJobId =
    "INSERT INTO meta(key, value) VALUES('next_job_id', ?1) "
    "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)";
constexpr const char* kUpsertUser =
    "INSERT OR REPLACE INTO users(name, role, token_hash, created_ms, cert_fp) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";
constexpr const char* kDeleteUser = "DELETE FROM users WHERE name = ?1";
constexpr const char* kUpsertJoinToken =
    "INSERT OR REPLACE INTO join_tokens(hash, node, expires_ms) VALUES(?1, ?2, ?3)";
constexpr const char* kDeleteJoinToken = "DELETE FROM join_tokens WHERE hash = ?1";
constexpr const char* kDeleteJobSql[] = {
    "DELETE FROM tasks WHERE job = ?1", "DELETE FROM job_history WHERE job = ?1",
    "DELETE FROM job_pins WHERE job = ?1", "DELETE FROM job_holds WHERE job = ?1",
    "DELETE FROM job_predictions WHERE job = ?1",
    "DELETE FROM jobs WHERE id = ?1"};
constexpr const char* kUpsertPin =
    "INSERT OR REPLACE INTO job_pins(job, node, migrate_reason, expires_ms) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kDeletePin = "DELETE FROM job_pins WHERE job = ?1";
constexpr const char* kUpsertHold =
    "INSERT OR REPLACE INTO job_holds(job, by_whom, at_ms) VALUES(?1, ?2, ?3)";
constexpr const char* kDeleteHold = "DELETE FROM job_holds WHERE job = ?1";
constexpr const char* kUpsertPrediction =
    "INSERT OR REPLACE INTO job_predictions(job, made_ms, start_ms, finish_ms, low_s, high_s) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kUpsertDrain =
    "INSERT OR REPLACE INTO node_drains(name, reason, by_whom, at_ms) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kDeleteDrain = "DELETE FROM node_drains WHERE name = ?1";
constexpr const char* kAppendHistory =
    "INSERT INTO job_history(job, time_ms, text) VALUES(?1, ?2, ?3)";
constexpr const char* kInsertUsage =
    "INSERT INTO usage_history(node, time_ms, predicted, measured, load, cpu_load) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kPruneUsage = "DELETE FROM usage_history WHERE time_ms < ?1";

constexpr const char* kInsertJob =
    "INSERT OR REPLACE INTO jobs(id, spec, state, submit_ms, start_ms, end_ms, reason) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kUpdateJob =
    "UPDATE jobs SET state = ?2, start_ms = ?3, end_ms = ?4, reason = ?5 WHERE id = ?1";
constexpr const char* kUpsertTask =
    "INSERT OR REPLACE INTO tasks(job, idx, state, attempt, node, gpus, exit_code, retries, "
    "lost_requeues, start_ms, end_ms, message, progress, peak_mib, cpu_s) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
constexpr const char* kUpdateProgress =
    "UPDATE tasks SET progress = ?3 WHERE job = ?1 AND idx = ?2";
constexpr const char* kUpsertNode =
    "INSERT OR REPLACE INTO nodes(name, spec, last_seen_ms) VALUES(?1, ?2, ?3)";



Status BindTask(Db& db, JobId job, const TaskRecord& t) {
  auto st = db.Prepare(kUpsertTask);
  if (!st.ok()) return st.status();
  return st->Int(1, job)
      .Int(2, t.index)
      .Text(3, TaskStateName(t.state))
      .Int(4, t.attempt)
      .Text(5, t.node)
      .Text(6, JoinGpuList(t.gpus))
      .Int(7, t.exit_code)
      .Int(8, t.retries)
      .Int(9, t.lost_requeues)
      .Int(10, t.start_ms)
      .Int(11, t.end_ms)
      .Text(12, t.message)
      .Blob(13, t.progress)
      .Int(14, t.peak_memory_mib)
      .Real(15, t.cpu_seconds)
      .Exec();
}

}  // namespace

// ------------------------------------------------------------------------ SqliteStore

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       StoreOptions options) {
  // The store holds every job's environment and the users' token hashes: its owner's alone.
  // SQLite gives its -wal and -shm files the database file's permissions.
  if (int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  auto db = std::make_unique<Db>(raw);
  if (rc != SQLITE_OK)
    return Status::Unavailable("cannot open state store " + path + ": " + sqlite3_errmsg(raw));
  sqlite3_busy_timeout(raw, 5000);
  const std::string restore =
      "; restore it from a backup, or move it away to start with an empty state";
  auto version = db->Prepare("PRAGMA user_version");
  if (!version.ok())
    return Status::FailedPrecondition("state store " + path + " is unreadable (" +
                                      version.status().message() + ")" + restore);
  int64_t v = version->Next() ? version->ColInt(0) : 0;
  if (Status e = version->Finish(); !e.ok())
    return Status::FailedPrecondition("state store " + path + " is unreadable (" + e.message() +
                                      ")" + restore);
  if (v > kStoreSchemaVersion)
    return Status::FailedPrecondition("state store " + path + " has schema version " +
                                      std::to_string(v) + ", newer than this muster (" +
                                      std::to_string(kStoreSchemaVersion) + ")");
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=OFF"}) {
    Status s = db->Exec(sql);
    if (!s.ok()) return s;
  }
  Status s =
      db->Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  if (!s.ok()) return s;
  {  // A damaged file is refused at open, not discovered one row at a time.
    auto check = db->Prepare("PRAGMA quick_check");
    if (!check.ok())
      return Status::FailedPrecondition("state store " + path + " is damaged (" +
                                        check.status().message() + ")" + restore);
    std::string verdict;
    while (check->Next())
      if (verdict.size() < 300) verdict += (verdict.empty() ? "" : "; ") + check->ColText(0);
    Status e = check->Finish();
    if (!e.ok() || verdict != "ok")
      return Status::FailedPrecondition("state store " + path + " is damaged (" +
                                        (e.ok() ? verdict : e.message()) + ")" + restore);
  }
  s = db->Exec(kSchema);
  if (!s.ok()) return s;
  if (v < 2) {  // users of version 1 had no client certificates
    auto cols = db->Prepare("SELECT count(*) FROM pragma_table_info('users') WHERE name = 'cert_fp'");
    if (!cols.ok()) return cols.status();
    const bool has = cols->Next() && cols->ColInt(0) > 0;
    if (Status e = cols->Finish(); !e.ok()) return e;
    if (!has) s = db->Exec("ALTER TABLE users ADD COLUMN cert_fp TEXT NOT NULL DEFAULT ''");
    if (!s.ok()) return s;
  }
  if (v < 3) {  // tasks of versions 1 and 2 had no measured usage
    auto cols = db->Prepare("SELECT count(*) FROM pragma_table_info('tasks') WHERE name = 'peak_mib'");
    if (!cols.ok()) return cols.status();
    const bool has = cols->Next() && cols->ColInt(0) > 0;
    if (Status e = cols->Finish(); !e.ok()) return e;
    for (const char* sql : {"ALTER TABLE tasks ADD COLUMN peak_mib INTEGER NOT NULL DEFAULT 0",
                            "ALTER TABLE tasks ADD COLUMN cpu_s REAL NOT NULL DEFAULT -1"})
      if (!has && !(s = db->Exec(sql)).ok()) return s;
  }
  s = db->Exec(("PRAGMA user_version=" + std::to_string(kStoreSchemaVersion)).c_str());
  if (!s.ok()) return s;
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), options));
}

SqliteStore::SqliteStore(std::unique_ptr<Db> db, StoreOptions options)
    : db_(std::move(db)),
      queue_(options.max_batch, [this](std::span<Write> writes) { return CommitBatch(writes); }) {}

SqliteStore::~SqliteStore() {
  queue_.Stop();
}

Status SqliteStore::CommitBatch(std::span<Write> writes) {
  MutexLock db_lock(db_mu_);
  Status s = db_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  for (size_t i = 0; i < writes.size() && s.ok(); ++i) s = writes[i](*db_);
  if (s.ok()) s = db_->Exec("COMMIT");
  if (!s.ok()) (void)db_->Exec("ROLLBACK");
  return s;
}

Status SqliteStore::Wait(Ticket t) {
  return queue_.Wait(t);
}

Status SqliteStore::Flush() {
  return queue_.Flush();
}

uint64_t SqliteStore::FailedWrites() const {
  return queue_.FailedWrites();
}

Status SqliteStore::LastWriteError() const {
  return queue_.LastWriteError();
}

uint64_t SqliteStore::CommittedBatches() const {
  return queue_.CommittedBatches();
}

SqliteStore::Ticket SqliteStore::InsertJob(const JobRecord& job) {
  return Enqueue([job, blob = EncodeStoredSpec(*job.spec)](Db& db) -> Status {
    auto st = db.Prepare(kInsertJob);
    if (!st.ok()) return st.status();
    Status s = st->Int(1, job.id)
                   .Blob(2, blob)
                   .Text(3, JobStateName(job.state))
                   .Int(4, job.submit_ms)
                   .Int(5, job.start_ms)
                   .Int(6, job.end_ms)
                   .Text(7, job.reason)
                   .Exec();
    for (const auto& t : job.tasks) {
      if (!s.ok()) break;
      if (IsAsSubmitted(t)) continue;  // no row until it changes (records.h)
      s = BindTask(db, job.id, t);
    }
    if (s.ok()) {
      auto bump = db.Prepare(kBumpNextJobId);
      if (!bump.ok()) return bump.status();
      s = bump->Int(1, job.id + 1).Exec();
    }
    return s;
  });
}

SqliteStore::Ticket SqliteStore::UpdateJob(const JobRecord& job) {
  return Enqueue([id = job.id, state = job.state, start = job.start_ms, end = job.end_ms,
                  reason = job.reason](Db& db) -> Status {
    auto st = db.Prepare(kUpdateJob);
    if (!st.ok()) return st.status();
    return st->Int(1, id)
        .Text(2, JobStateName(state))
        .Int(3, start)
        .Int(4, end)
        .Text(5, reason)
        .Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpdateTask(JobId job, const TaskRecord& task) {
  return Enqueue([job, task](Db& db) { return BindTask(db, job, task); });
}

SqliteStore::Ticket SqliteStore::UpdateProgress(JobId job, int index, std::string progress) {
  return Enqueue([job, index, progress = std::move(progress)](Db& db) -> Status {
    auto st = db.Prepare(kUpdateProgress);
    if (!st.ok()) return st.status();
    return st->Int(1, job).Int(2, index).Blob(3, progress).Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpsertNode(const NodeRecord& node) {
  v1::NodeSpec spec;
  ToProto(node.spec, &spec, node.address);
  return Enqueue([name = node.spec.name, blob = spec.SerializeAsString(),
                  seen = node.last_seen_ms](Db& db) -> Status {
    auto st = db.Prepare(kUpsertNode);
    if (!st.ok()) return st.status();
    return st->Text(1, name).Blob(2, blob).Int(3, seen).Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpdateDrain(const NodeRecord& node) {
  return Enqueue([name = node.spec.name, reason = node.drain_reason, by = node.drained_by,
                  at = node.drain_ms](Db& db) -> Status {
    if (at <= 0) {
      auto st = db.Prepare(kDeleteDrain);
      if (!st.ok()) return st.status();
      return st->Text(1, name).Exec();
    }
    auto st = db.Prepare(kUpsertDrain);
    if (!st.ok()) return st.status();
    return st->Text(1, name).Text(2, reason).Text(3, by).Int(4, at).Exec();
  });
}

SqliteStore::Ticket SqliteStore::AppendJobHistory(JobId job, TimeMs time_ms,
                                                  const std::string& text) {
  return Enqueue([job, time_ms, text](Db& db) -> Status {
    auto st = db.Prepare(kAppendHistory);
    if (!st.ok()) return st.status();
    return st->Int(1, job).Int(2, time_ms).Text(3, text).Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpdatePin(const JobRecord& job) {
  return Enqueue([id = job.id, node = job.pinned_node, reason = job.migrate_reason,
                  expires = job.pin_expires_ms](Db& db) -> Status {
    if (node.empty() && reason.empty()) {
      auto st = db.Prepare(kDeletePin);
      if (!st.ok()) return st.status();
      return st->Int(1, id).Exec();
    }
    auto st = db.Prepare(kUpsertPin);
    if (!st.ok()) return st.status();
    return st->Int(1, id).Text(2, node).Text(3, reason).Int(4, expires).Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpdateHold(const JobRecord& job) {
  return Enqueue([id = job.id, by = job.held_by, at = job.held_ms](Db& db) -> Status {
    if (at <= 0) {
      auto st = db.Prepare(kDeleteHold);
      if (!st.ok()) return st.status();
      return st->Int(1, id).Exec();
    }
    auto st = db.Prepare(kUpsertHold);
    if (!st.ok()) return st.status();
    return st->Int(1, id).Text(2, by).Int(3, at).Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpdatePrediction(const JobRecord& job) {
  return Enqueue([id = job.id, p = job.submit_prediction](Db& db) -> Status {
    auto st = db.Prepare(kUpsertPrediction);
    if (!st.ok()) return st.status();
    return st->Int(1, id)
        .Int(2, p.made_ms)
        .Int(3, p.start_ms)
        .Int(4, p.finish_ms)
        .Real(5, p.low_s)
        .Real(6, p.high_s)
        .Exec();
  });
}

SqliteStore::Ticket SqliteStore::AppendAudit(const AuditRecord& r) {
  return Enqueue([r](Db& db) -> Status {
    auto st = db.Prepare(kAppendAudit);
    if (!st.ok()) return st.status();
    return st->Int(1, r.time_ms)
        .Text(2, r.identity)
        .Text(3, r.role)
        .Text(4, r.via)
        .Text(5, r.peer)
        .Text(6, r.action)
        .Text(7, r.target)
        .Text(8, r.result)
        .Exec();
  });
}

Result<std::vector<AuditRecord>> SqliteStore::LoadAudit(TimeMs since_ms,
                                                        const std::string& identity, int limit) {
  MutexLock db_lock(db_mu_);
  // The newest `limit` rows (all with limit <= 0), returned oldest first.
  auto st = db_->Prepare(
      "SELECT time_ms, identity, role, via, peer, action, target, result FROM audit "
      "WHERE time_ms >= ?1 AND (?2 = '' OR identity = ?2) ORDER BY rowid DESC LIMIT ?3");
  if (!st.ok()) return st.status();
  st->Int(1, since_ms).Text(2, identity).Int(3, limit > 0 ? limit : -1);
  std::vector<AuditRecord> out;
  while (st->Next())
    out.push_back({st->ColInt(0), st->ColText(1), st->ColText(2), st->ColText(3), st->ColText(4),
                   st->ColText(5), st->ColText(6), st->ColText(7)});
  if (Status e = st->Finish(); !e.ok()) return e;
  std::reverse(out.begin(), out.end());
  return out;
}

SqliteStore::Ticket SqliteStore::UpsertUser(const UserRecord& user) {
  return Enqueue([user](Db& db) -> Status {
    auto st = db.Prepare(kUpsertUser);
    if (!st.ok()) return st.status();
    return st->Text(1, user.name)
        .Text(2, user.role)
        .Text(3, user.token_hash)
        .Int(4, user.created_ms)
        .Text(5, user.cert_fp)
        .Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpsertJoinToken(const JoinTokenRecord& token) {
  return Enqueue([token](Db& db) -> Status {
    auto st = db.Prepare(kUpsertJoinToken);
    if (!st.ok()) return st.status();
    return st->Text(1, token.hash).Text(2, token.node).Int(3, token.expires_ms).Exec();
  });
}

SqliteStore::Ticket SqliteStore::DeleteJoinToken(const std::string& hash) {
  return Enqueue([hash](Db& db) -> Status {
    auto st = db.Prepare(kDeleteJoinToken);
    if (!st.ok()) return st.status();
    return st->Text(1, hash).Exec();
  });
}

SqliteStore::Ticket SqliteStore::DeleteJob(JobId job) {
  return Enqueue([job](Db& db) -> Status {
    for (const char* sql : kDeleteJobSql) {
      auto st = db.Prepare(sql);
      if (!st.ok()) return st.status();
      if (Status s = st->Int(1, job).Exec(); !s.ok()) return s;
    }
    return Status::Ok();
  });
}

SqliteStore::Ticket SqliteStore::DeleteUser(const std::string& name) {
  return Enqueue([name](Db& db) -> Status {
    auto st = db.Prepare(kDeleteUser);
    if (!st.ok()) return st.status();
    return st->Text(1, name).Exec();
  });
}

SqliteStore::Ticket SqliteStore::InsertUsage(const UsageRow& row) {
  return Enqueue([row](Db& db) -> Status {
    auto st = db.Prepare(kInsertUsage);
    if (!st.ok()) return st.status();
    return st->Text(1, row.node)
        .Int(2, row.time_ms)
        .Real(3, row.predicted)
        .Real(4, row.measured)
        .Real(5, row.load)
        .Real(6, row.cpu_load)
        .Exec();
  });
}

SqliteStore::Ticket SqliteStore::UpsertLimit(const LimitRecord& l) {
  return Enqueue([l](Db& db) -> Status {
    auto st = db.Prepare(kUpsertLimit);
    if (!st.ok()) return st.status();
    return st->Text(1, l.kind)
        .Text(2, l.name)
        .Int(3, l.max_gpus)
        .Int(4, l.max_milli_cpus)
        .Int(5, l.max_jobs)
        .Text(6, l.set_by)
        .Int(7, l.set_ms)
        .Exec();
  });
}

SqliteStore::Ticket SqliteStore::DeleteLimit(const std::string& kind, const std::string& name) {
  return Enqueue([kind, name](Db& db) -> Status {
    auto st = db.Prepare(kDeleteLimit);
    if (!st.ok()) return st.status();
    return st->Text(1, kind).Text(2, name).Exec();
  });
}

SqliteStore::Ticket SqliteStore::InsertAccounting(const AccountingRow& row) {
  return Enqueue([row](Db& db) -> Status {
    auto st = db.Prepare(kInsertAccounting);
    if (!st.ok()) return st.status();
    return st->Int(1, row.job)
        .Int(2, row.index)
        .Int(3, row.attempt)
        .Text(4, row.user)
        .Text(5, row.name)
        .Text(6, row.node)
        .Text(7, row.state)
        .Int(8, row.exit_code)
        .Int(9, row.submit_ms)
        .Int(10, row.start_ms)
        .Int(11, row.end_ms)
        .Int(12, row.gpus)
        .Int(13, row.milli_cpus)
        .Real(14, row.cpu_seconds)
        .Int(15, row.peak_memory_mib)
        .Real(16, row.gpu_util)
        .Real(17, row.energy_wh)
        .Exec();
  });
}

Result<std::vector<AccountingRow>> SqliteStore::LoadAccounting(TimeMs since_ms,
                                                               const std::string& user, JobId job) {
  MutexLock db_lock(db_mu_);
  auto st = db_->Prepare(
      "SELECT job, idx, attempt, user, name, node, state, exit_code, submit_ms, start_ms, end_ms, "
      "gpus, milli_cpus, cpu_s, peak_mib, gpu_util, energy_wh FROM accounting "
      "WHERE end_ms >= ?1 AND (?2 = '' OR user = ?2) AND (?3 = 0 OR job = ?3) "
      "ORDER BY job, idx, attempt");
  if (!st.ok()) return st.status();
  st->Int(1, since_ms).Text(2, user).Int(3, job);
  std::vector<AccountingRow> out;
  while (st->Next()) {
    AccountingRow r;
    r.job = st->ColInt(0);
    r.index = static_cast<int>(st->ColInt(1));
    r.attempt = st->ColInt(2);
    r.user = st->ColText(3);
    r.name = st->ColText(4);
    r.node = st->ColText(5);
    r.state = st->ColText(6);
    r.exit_code = static_cast<int>(st->ColInt(7));
    r.submit_ms = st->ColInt(8);
    r.start_ms = st->ColInt(9);
    r.end_ms = st->ColInt(10);
    r.gpus = static_cast<int>(st->ColInt(11));
    r.milli_cpus = st->ColInt(12);
    r.cpu_seconds = st->ColReal(13);
    r.peak_memory_mib = st->ColInt(14);
    r.gpu_util = st->ColReal(15);
    r.energy_wh = st->ColReal(16);
    out.push_back(std::move(r));
  }
  if (Status e = st->Finish(); !e.ok()) return e;
  return out;
}

SqliteStore::Ticket SqliteStore::PruneUsage(TimeMs before_ms) {
  return Enqueue([before_ms](Db& db) -> Status {
    auto st = db.Prepare(kPruneUsage);
    if (!st.ok()) return st.status();
    return st->Int(1, before_ms).Exec();
  });
}

Result<std::vector<UsageRow>> SqliteStore::LoadUsage(TimeMs since_ms) {
  MutexLock db_lock(db_mu_);
  auto st = db_->Prepare(
      "SELECT node, time_ms, predicted, measured, load, cpu_load FROM usage_history "
      "WHERE time_ms >= ?1 ORDER BY time_ms, node");
  if (!st.ok()) return st.status();
  st->Int(1, since_ms);
  std::vector<UsageRow> out;
  while (st->Next())
    out.push_back({st->ColText(0), st->ColInt(1), st->ColReal(2), st->ColReal(3), st->ColReal(4),
                   st->ColReal(5)});
  if (Status e = st->Finish(); !e.ok()) return e;
  return out;
}

Result<StoreContents> SqliteStore::LoadAll() {
  MutexLock db_lock(db_mu_);
  StoreContents out;
  auto jobs = db_->Prepare(
      "SELECT id, spec, state, submit_ms, start_ms, end_ms, reason FROM jobs ORDER BY id");
  if (!jobs.ok()) return jobs.status();
  std::unordered_map<JobId, size_t> slot;
  while (jobs->Next()) {
    JobId id = jobs->ColInt(0);
    auto spec = DecodeStoredSpec(jobs->ColBlob(1));
    if (!spec.ok()) {
      jobs->Done();
      return Status::Internal("store: job " + std::to_string(id) + ": " + spec.status().message());
    }
    JobRecord j;
    j.id = id;
    j.spec = std::make_shared<const JobSpec>(std::move(spec).value());
    j.state = ParseJobState(jobs->ColText(2)).value_or(JobState::kFailed);
    j.submit_ms = jobs->ColInt(3);
    j.start_ms = jobs->ColInt(4);
    j.end_ms = jobs->ColInt(5);
    j.reason = jobs->ColText(6);
    slot[id] = out.jobs.size();
    out.jobs.push_back(std::move(j));
  }
  if (Status e = jobs->Finish(); !e.ok()) return e;

  auto tasks = db_->Prepare(
      "SELECT job, idx, state, attempt, node, gpus, exit_code, retries, lost_requeues, start_ms, "
      "end_ms, message, progress, peak_mib, cpu_s FROM tasks ORDER BY job, idx");
  if (!tasks.ok()) return tasks.status();
  while (tasks->Next()) {
    auto it = slot.find(tasks->ColInt(0));
    if (it == slot.end()) continue;
    TaskRecord t;
    t.index = static_cast<int>(tasks->ColInt(1));
    t.state = ParseTaskState(tasks->ColText(2)).value_or(TaskState::kFailed);
    t.attempt = tasks->ColInt(3);
    t.node = tasks->ColText(4);
    if (!SplitGpuList(tasks->ColText(5), &t.gpus))
      return Status::Internal("store: task " + std::to_string(it->first) + "." +
                              std::to_string(t.index) + " has an unreadable GPU list");
    t.exit_code = static_cast<int>(tasks->ColInt(6));
    t.retries = static_cast<int>(tasks->ColInt(7));
    t.lost_requeues = static_cast<int>(tasks->ColInt(8));
    t.start_ms = tasks->ColInt(9);
    t.end_ms = tasks->ColInt(10);
    t.message = tasks->ColText(11);
    t.progress = tasks->ColBlob(12);
    t.peak_memory_mib = static_cast<int32_t>(tasks->ColInt(13));
    t.cpu_seconds = static_cast<float>(tasks->ColReal(14));
    out.jobs[it->second].tasks.push_back(std::move(t));
  }
  if (Status e = tasks->Finish(); !e.ok()) return e;
  for (JobRecord& j : out.jobs) FillUnstoredTasks(j);  // tasks as submitted have no row

  auto nodes = db_->Prepare("SELECT name, spec, last_seen_ms FROM nodes ORDER BY name");
  if (!nodes.ok()) return nodes.status();
  while (nodes->Next()) {
    v1::NodeSpec proto;
    if (!proto.ParseFromString(nodes->ColBlob(1))) {
      std::string name = nodes->ColText(0);
      nodes->Done();
      return Status::Internal("store: node " + name + " has an unreadable spec");
    }
    NodeRecord n;
    n.spec = FromProto(proto);
    n.spec.name = nodes->ColText(0);
    n.address = proto.address();
    n.last_seen_ms = nodes->ColInt(2);
    out.nodes.push_back(std::move(n));
  }
  if (Status e = nodes->Finish(); !e.ok()) return e;
  auto drains = db_->Prepare("SELECT name, reason, by_whom, at_ms FROM node_drains");
  if (!drains.ok()) return drains.status();
  while (drains->Next()) {
    const std::string name = drains->ColText(0);
    auto it = std::find_if(out.nodes.begin(), out.nodes.end(),
                           [&](const NodeRecord& n) { return n.spec.name == name; });
    if (it == out.nodes.end()) continue;  // a node no longer known
    it->drain_reason = drains->ColText(1);
    it->drained_by = drains->ColText(2);
    it->drain_ms = drains->ColInt(3);
  }
  if (Status e = drains->Finish(); !e.ok()) return e;

  auto history = db_->Prepare("SELECT job, text FROM job_history ORDER BY job, time_ms, rowid");
  if (!history.ok()) return history.status();
  while (history->Next()) {
    auto it = slot.find(history->ColInt(0));
    if (it != slot.end()) out.jobs[it->second].history.push_back(history->ColText(1));
  }
  if (Status e = history->Finish(); !e.ok()) return e;

  auto pins = db_->Prepare("SELECT job, node, migrate_reason, expires_ms FROM job_pins");
  if (!pins.ok()) return pins.status();
  while (pins->Next()) {
    auto it = slot.find(pins->ColInt(0));
    if (it == slot.end()) continue;
    JobRecord& j = out.jobs[it->second];
    j.pinned_node = pins->ColText(1);
    j.migrate_reason = pins->ColText(2);
    j.pin_expires_ms = pins->ColInt(3);
  }
  if (Status e = pins->Finish(); !e.ok()) return e;
  auto predictions = db_->Prepare(
      "SELECT job, made_ms, start_ms, finish_ms, low_s, high_s FROM job_predictions");
  if (!predictions.ok()) return predictions.status();
  while (predictions->Next()) {
    auto it = slot.find(predictions->ColInt(0));
    if (it == slot.end()) continue;
    out.jobs[it->second].submit_prediction = {.made_ms = predictions->ColInt(1),
                                              .start_ms = predictions->ColInt(2),
                                              .finish_ms = predictions->ColInt(3),
                                              .low_s = predictions->ColReal(4),
                                              .high_s = predictions->ColReal(5)};
  }
  if (Status e = predictions->Finish(); !e.ok()) return e;
  auto holds = db_->Prepare("SELECT job, by_whom, at_ms FROM job_holds");
  if (!holds.ok()) return holds.status();
  while (holds->Next()) {
    auto it = slot.find(holds->ColInt(0));
    if (it == slot.end()) continue;
    out.jobs[it->second].held_by = holds->ColText(1);
    out.jobs[it->second].held_ms = holds->ColInt(2);
  }
  if (Status e = holds->Finish(); !e.ok()) return e;

  auto meta = db_->Prepare("SELECT key, value FROM meta WHERE key IN ('next_job_id', 'epoch')");
  if (!meta.ok()) return meta.status();
  while (meta->Next()) {
    if (meta->ColText(0) == "epoch")
      out.epoch = meta->ColInt(1);
    else
      out.next_job_id = std::max<JobId>(out.next_job_id, meta->ColInt(1));
  }
  if (Status e = meta->Finish(); !e.ok()) return e;
  for (const auto& j : out.jobs) out.next_job_id = std::max(out.next_job_id, j.id + 1);

  auto users = db_->Prepare(
      "SELECT name, role, token_hash, created_ms, cert_fp FROM users ORDER BY name");
  if (!users.ok()) return users.status();
  while (users->Next())
    out.users.push_back({users->ColText(0), users->ColText(1), users->ColText(2),
                         users->ColInt(3), users->ColText(4)});
  if (Status e = users->Finish(); !e.ok()) return e;
  auto joins = db_->Prepare("SELECT hash, node, expires_ms FROM join_tokens ORDER BY hash");
  if (!joins.ok()) return joins.status();
  while (joins->Next())
    out.join_tokens.push_back({joins->ColText(0), joins->ColText(1), joins->ColInt(2)});
  if (Status e = joins->Finish(); !e.ok()) return e;
  auto limits = db_->Prepare(
      "SELECT kind, name, max_gpus, max_milli_cpus, max_jobs, set_by, set_ms FROM limits "
      "ORDER BY kind, name");
  if (!limits.ok()) return limits.status();
  while (limits->Next())
    out.limits.push_back({limits->ColText(0), limits->ColText(1),
                          static_cast<int>(limits->ColInt(2)), limits->ColInt(3),
                          static_cast<int>(limits->ColInt(4)), limits->ColText(5),
                          limits->ColInt(6)});
  if (Status e = limits->Finish(); !e.ok()) return e;
  return out;
}

}  // namespace muster::cluster
