#include "cluster/store/postgres_store.h"

#include <algorithm>
#include <iterator>
#include <sstream>
#include <unordered_map>

#include "cluster/common/convert.h"
#include "cluster/store/gpu_list.h"
#include "cluster/store/pg_connection.h"
#include "cluster/store/stored_spec.h"

namespace muster::cluster {
namespace {

// ------------------------------------------------------------------------------------- schema

struct Migration {
  int version;      // the schema version once it ran
  const char* sql;  // run inside the migration's transaction
};

// Append only: a step, once released, is never changed (databases out there ran it).
constexpr Migration kMigrations[] = {
    // SqliteStore's version 4, all at once: the first schema of PostgresStore.
    {4, R"sql(
CREATE TABLE jobs(
  id BIGINT PRIMARY KEY, spec BYTEA NOT NULL, state TEXT NOT NULL,
  submit_ms BIGINT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
  reason TEXT NOT NULL);
CREATE TABLE tasks(
  job BIGINT NOT NULL, idx BIGINT NOT NULL, state TEXT NOT NULL, attempt BIGINT NOT NULL,
  node TEXT NOT NULL, gpus TEXT NOT NULL, exit_code BIGINT NOT NULL, retries BIGINT NOT NULL,
  lost_requeues BIGINT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
  message TEXT NOT NULL, progress BYTEA NOT NULL, peak_mib BIGINT NOT NULL DEFAULT 0,
  cpu_s DOUBLE PRECISION NOT NULL DEFAULT -1, PRIMARY KEY(job, idx));
CREATE TABLE nodes(
  name TEXT COLLATE "C" PRIMARY KEY, spec BYTEA NOT NULL, last_seen_ms BIGINT NOT NULL);
CREATE TABLE job_history(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job BIGINT NOT NULL,
  time_ms BIGINT NOT NULL, text TEXT NOT NULL);
CREATE INDEX job_history_job ON job_history(job);
CREATE TABLE usage_history(
  node TEXT COLLATE "C" NOT NULL, time_ms BIGINT NOT NULL, predicted DOUBLE PRECISION NOT NULL,
  measured DOUBLE PRECISION NOT NULL, load DOUBLE PRECISION NOT NULL,
  cpu_load DOUBLE PRECISION NOT NULL);
CREATE INDEX usage_history_time ON usage_history(time_ms);
CREATE TABLE node_drains(
  name TEXT PRIMARY KEY, reason TEXT NOT NULL, by_whom TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE job_holds(
  job BIGINT PRIMARY KEY, by_whom TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE job_predictions(
  job BIGINT PRIMARY KEY, made_ms BIGINT NOT NULL, start_ms BIGINT NOT NULL,
  finish_ms BIGINT NOT NULL, low_s DOUBLE PRECISION NOT NULL, high_s DOUBLE PRECISION NOT NULL);
CREATE TABLE job_pins(
  job BIGINT PRIMARY KEY, node TEXT NOT NULL, migrate_reason TEXT NOT NULL,
  expires_ms BIGINT NOT NULL);
CREATE TABLE audit(
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time_ms BIGINT NOT NULL,
  identity TEXT NOT NULL, role TEXT NOT NULL, via TEXT NOT NULL, peer TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL, result TEXT NOT NULL);
CREATE INDEX audit_time ON audit(time_ms);
CREATE TABLE users(
  name TEXT COLLATE "C" PRIMARY KEY, role TEXT NOT NULL, token_hash TEXT NOT NULL,
  created_ms BIGINT NOT NULL, cert_fp TEXT NOT NULL DEFAULT '');
CREATE TABLE join_tokens(
  hash TEXT COLLATE "C" PRIMARY KEY, node TEXT NOT NULL, expires_ms BIGINT NOT NULL);
CREATE TABLE accounting(
  job BIGINT NOT NULL, idx BIGINT NOT NULL, attempt BIGINT NOT NULL, "user" TEXT NOT NULL,
  name TEXT NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, exit_code BIGINT NOT NULL,
  submit_ms BIGINT NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL,
  gpus BIGINT NOT NULL, milli_cpus BIGINT NOT NULL, cpu_s DOUBLE PRECISION NOT NULL,
  peak_mib BIGINT NOT NULL, gpu_util DOUBLE PRECISION NOT NULL,
  energy_wh DOUBLE PRECISION NOT NULL, PRIMARY KEY(job, idx, attempt));
CREATE INDEX accounting_end ON accounting(end_ms);
CREATE TABLE limits(
  kind TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, max_gpus BIGINT NOT NULL,
  max_milli_cpus BIGINT NOT NULL, max_jobs BIGINT NOT NULL, set_by TEXT NOT NULL,
  set_ms BIGINT NOT NULL, PRIMARY KEY(kind, name));
)sql"},
    // 5: tasks as submitted are no longer written (records.h); nothing to change in the tables.
    {5, "UPDATE meta SET value = value WHERE false"},
    // 6: array ranges in specs as numbers (stored_spec.h reads the older text form too).
    {6, "UPDATE meta SET value = value WHERE false"},
};

constexpr bool MigrationsAscend() {
  for (size_t i = 1; i < std::size(kMigrations); ++i)
    if (kMigrations[i].version <= kMigrations[i - 1].version) return false;
  return true;
}
static_assert(MigrationsAscend(), "migration steps must have ascending versions");
static_assert(kMigrations[std::size(kMigrations) - 1].version == kStoreSchemaVersion,
              "kStoreSchemaVersion changed: add a PostgreSQL migration step for it");

// Taken by every Open's migration transaction: "muster" in ASCII.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(120351215609202)";
constexpr const char* kCreateMeta =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL)";
constexpr const char* kSchemaVersion = "SELECT value FROM meta WHERE key = 'schema_version'";
constexpr const char* kSetSchemaVersion =
    "INSERT INTO meta(key, value) VALUES('schema_version', $1) "
    "ON CONFLICT(key) DO UPDATE SET value = EXCLUDED.value";

// ----------------------------------------------------------------------------------- writes

constexpr const char* kUpsertLimit =
    "INSERT INTO limits(kind, name, max_gpus, max_milli_cpus, max_jobs, set_by, set_ms) "
    "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(kind, name) DO UPDATE SET "
    "max_gpus = EXCLUDED.max_gpus, max_milli_cpus = EXCLUDED.max_milli_cpus, "
    "max_jobs = EXCLUDED.max_jobs, set_by = EXCLUDED.set_by, set_ms = EXCLUDED.set_ms";
constexpr const char* kDeleteLimit = "DELETE FROM limits WHERE kind = $1 AND name = $2";
constexpr const char* kInsertAccounting =
    "INSERT INTO accounting(job, idx, attempt, \"user\", name, node, state, exit_code, "
    "submit_ms, start_ms, end_ms, gpus, milli_cpus, cpu_s, peak_mib, gpu_util, energy_wh) "
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
    "ON CONFLICT(job, idx, attempt) DO UPDATE SET \"user\" = EXCLUDED.\"user\", "
    "name = EXCLUDED.name, node = EXCLUDED.node, state = EXCLUDED.state, "
    "exit_code = EXCLUDED.exit_code, submit_ms = EXCLUDED.submit_ms, "
    "start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, gpus = EXCLUDED.gpus, "
    "milli_cpus = EXCLUDED.milli_cpus, cpu_s = EXCLUDED.cpu_s, peak_mib = EXCLUDED.peak_mib, "
    "gpu_util = EXCLUDED.gpu_util, energy_wh = EXCLUDED.energy_wh";
constexpr const char* kAppendAudit =
    "INSERT INTO audit(time_ms, identity, role, via, peer, action, target, result) "
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8)";
constexpr const char* kBumpNextJobId =
    "INSERT INTO meta(key, value) VALUES('next_job_id', $1) "
    "ON CONFLICT(key) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)";
constexpr const char* kUpsertUser =
    "INSERT INTO users(name, role, token_hash, created_ms, cert_fp) VALUES($1, $2, $3, $4, $5) "
    "ON CONFLICT(name) DO UPDATE SET role = EXCLUDED.role, token_hash = EXCLUDED.token_hash, "
    "created_ms = EXCLUDED.created_ms, cert_fp = EXCLUDED.cert_fp";
constexpr const char* kDeleteUser = "DELETE FROM users WHERE name = $1";
constexpr const char* kUpsertJoinToken =
    "INSERT INTO join_tokens(hash, node, expires_ms) VALUES($1, $2, $3) "
    "ON CONFLICT(hash) DO UPDATE SET node = EXCLUDED.node, expires_ms = EXCLUDED.expires_ms";
constexpr const char* kDeleteJoinToken = "DELETE FROM join_tokens WHERE hash = $1";
constexpr const char* kDeleteJobSql[] = {
    "DELETE FROM tasks WHERE job = $1",           "DELETE FROM job_history WHERE job = $1",
    "DELETE FROM job_pins WHERE job = $1",        "DELETE FROM job_holds WHERE job = $1",
    "DELETE FROM job_predictions WHERE job = $1", "DELETE FROM jobs WHERE id = $1"};
constexpr const char* kUpsertPin =
    "INSERT INTO job_pins(job, node, migrate_reason, expires_ms) VALUES($1, $2, $3, $4) "
    "ON CONFLICT(job) DO UPDATE SET node = EXCLUDED.node, "
    "migrate_reason = EXCLUDED.migrate_reason, expires_ms = EXCLUDED.expires_ms";
constexpr const char* kDeletePin = "DELETE FROM job_pins WHERE job = $1";
constexpr const char* kUpsertHold =
    "INSERT INTO job_holds(job, by_whom, at_ms) VALUES($1, $2, $3) "
    "ON CONFLICT(job) DO UPDATE SET by_whom = EXCLUDED.by_whom, at_ms = EXCLUDED.at_ms";
constexpr const char* kDeleteHold = "DELETE FROM job_holds WHERE job = $1";
constexpr const char* kUpsertPrediction =
    "INSERT INTO job_predictions(job, made_ms, start_ms, finish_ms, low_s, high_s) "
    "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(job) DO UPDATE SET made_ms = EXCLUDED.made_ms, "
    "start_ms = EXCLUDED.start_ms, finish_ms = EXCLUDED.finish_ms, low_s = EXCLUDED.low_s, "
    "high_s = EXCLUDED.high_s";
constexpr const char* kUpsertDrain =
    "INSERT INTO node_drains(name, reason, by_whom, at_ms) VALUES($1, $2, $3, $4) "
    "ON CONFLICT(name) DO UPDATE SET reason = EXCLUDED.reason, by_whom = EXCLUDED.by_whom, "
    "at_ms = EXCLUDED.at_ms";
constexpr const char* kDeleteDrain = "DELETE FROM node_drains WHERE name = $1";
constexpr const char* kAppendHistory =
    "INSERT INTO job_history(job, time_ms, text) VALUES($1, $2, $3)";
constexpr const char* kInsertUsage =
    "INSERT INTO usage_history(node, time_ms, predicted, measured, load, cpu_load) "
    "VALUES($1, $2, $3, $4, $5, $6)";
constexpr const char* kPruneUsage = "DELETE FROM usage_history WHERE time_ms < $1";
constexpr const char* kInsertJob =
    "INSERT INTO jobs(id, spec, state, submit_ms, start_ms, end_ms, reason) "
    "VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO UPDATE SET spec = EXCLUDED.spec, "
    "state = EXCLUDED.state, submit_ms = EXCLUDED.submit_ms, start_ms = EXCLUDED.start_ms, "
    "end_ms = EXCLUDED.end_ms, reason = EXCLUDED.reason";
constexpr const char* kUpdateJob =
    "UPDATE jobs SET state = $2, start_ms = $3, end_ms = $4, reason = $5 WHERE id = $1";
constexpr const char* kUpsertTask =
    "INSERT INTO tasks(job, idx, state, attempt, node, gpus, exit_code, retries, lost_requeues, "
    "start_ms, end_ms, message, progress, peak_mib, cpu_s) "
    "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
    "ON CONFLICT(job, idx) DO UPDATE SET state = EXCLUDED.state, attempt = EXCLUDED.attempt, "
    "node = EXCLUDED.node, gpus = EXCLUDED.gpus, exit_code = EXCLUDED.exit_code, "
    "retries = EXCLUDED.retries, lost_requeues = EXCLUDED.lost_requeues, "
    "start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, message = EXCLUDED.message, "
    "progress = EXCLUDED.progress, peak_mib = EXCLUDED.peak_mib, cpu_s = EXCLUDED.cpu_s";
constexpr const char* kUpdateProgress =
    "UPDATE tasks SET progress = $3 WHERE job = $1 AND idx = $2";
constexpr const char* kUpsertNode =
    "INSERT INTO nodes(name, spec, last_seen_ms) VALUES($1, $2, $3) "
    "ON CONFLICT(name) DO UPDATE SET spec = EXCLUDED.spec, last_seen_ms = EXCLUDED.last_seen_ms";

// The fence of every batch of a leader's store (leadership.h): a term taken meanwhile (TryLead
// locks the row FOR UPDATE) waits for this transaction to end; a renewal (an UPDATE of no key
// column) does not.
constexpr const char* kLockLeaderTerm = "SELECT term FROM leader WHERE id = 1 FOR KEY SHARE";
// ------------------------------------------------------------------------------------ reads

constexpr const char* kLoadAudit =
    "SELECT time_ms, identity, role, via, peer, action, target, result FROM audit "
    "WHERE time_ms >= $1 AND ($2 = '' OR identity = $2) ORDER BY seq DESC LIMIT $3";
constexpr const char* kLoadUsage =
    "SELECT node, time_ms, predicted, measured, load, cpu_load FROM usage_history "
    "WHERE time_ms >= $1 ORDER BY time_ms, node";
constexpr const char* kLoadAccounting =
    "SELECT job, idx, attempt, \"user\", name, node, state, exit_code, submit_ms, start_ms, "
    "end_ms, gpus, milli_cpus, cpu_s, peak_mib, gpu_util, energy_wh FROM accounting "
    "WHERE end_ms >= $1 AND ($2 = '' OR \"user\" = $2) AND ($3 = 0 OR job = $3) "
    "ORDER BY job, idx, attempt";
constexpr const char* kLoadJobs =
    "SELECT id, spec, state, submit_ms, start_ms, end_ms, reason FROM jobs ORDER BY id";
constexpr const char* kLoadTasks =
    "SELECT job, idx, state, attempt, node, gpus, exit_code, retries, lost_requeues, start_ms, "
    "end_ms, message, progress, peak_mib, cpu_s FROM tasks ORDER BY job, idx";
constexpr const char* kLoadNodes = "SELECT name, spec, last_seen_ms FROM nodes ORDER BY name";
constexpr const char* kLoadDrains = "SELECT name, reason, by_whom, at_ms FROM node_drains";
constexpr const char* kLoadHistory = "SELECT job, text FROM job_history ORDER BY job, time_ms, seq";
constexpr const char* kLoadPins = "SELECT job, node, migrate_reason, expires_ms FROM job_pins";
constexpr const char* kLoadPredictions =
    "SELECT job, made_ms, start_ms, finish_ms, low_s, high_s FROM job_predictions";
constexpr const char* kLoadHolds = "SELECT job, by_whom, at_ms FROM job_holds";
constexpr const char* kLoadMeta =
    "SELECT key, value FROM meta WHERE key IN ('next_job_id', 'epoch')";
constexpr const char* kLoadUsers =
    "SELECT name, role, token_hash, created_ms, cert_fp FROM users ORDER BY name";
constexpr const char* kLoadJoinTokens =
    "SELECT hash, node, expires_ms FROM join_tokens ORDER BY hash";
constexpr const char* kLoadLimits =
    "SELECT kind, name, max_gpus, max_milli_cpus, max_jobs, set_by, set_ms FROM limits "
    "ORDER BY kind, name";



Status RunTask(PgConnection& c, JobId job, const TaskRecord& t) {
  return c.Run(kUpsertTask, PgParams()
                                .Int(job)
                                .Int(t.index)
                                .Text(TaskStateName(t.state))
                                .Int(t.attempt)
                                .Text(t.node)
                                .Text(JoinGpuList(t.gpus))
                                .Int(t.exit_code)
                                .Int(t.retries)
                                .Int(t.lost_requeues)
                                .Int(t.start_ms)
                                .Int(t.end_ms)
                                .Text(t.message)
                                .Bytes(t.progress)
                                .Int(t.peak_memory_mib)
                                .Real(t.cpu_seconds));
}

// Brings the schema to kStoreSchemaVersion, in one transaction under the migration lock.
Status Migrate(PgConnection& c) {
  const std::string at = "the state store at " + c.where();
  auto step = [&]() -> Status {
    for (const char* sql : {kMigrationLock, kCreateMeta})
      if (Status s = c.Exec(sql); !s.ok()) return s;
    auto rows = c.Query(kSchemaVersion);
    if (!rows.ok()) return rows.status();
    const int64_t v = rows->size() > 0 ? rows->Int(0, 0) : 0;
    if (Status s = rows->status(); !s.ok()) return s;
    if (v > kStoreSchemaVersion)
      return Status::FailedPrecondition(at + " has schema version " + std::to_string(v) +
                                        ", newer than this muster (" +
                                        std::to_string(kStoreSchemaVersion) +
                                        "): run a newer muster, or give it another database");
    if (v == kStoreSchemaVersion) return Status::Ok();
    for (const Migration& m : kMigrations) {
      if (m.version <= v) continue;
      if (Status s = c.Exec(m.sql); !s.ok())
        return Status::FailedPrecondition(at + " cannot be migrated to schema version " +
                                          std::to_string(m.version) + ": " + s.message());
    }
    return c.Run(kSetSchemaVersion, PgParams().Int(kStoreSchemaVersion));
  };
  if (Status s = c.Exec("BEGIN"); !s.ok()) return s;
  Status s = step();
  if (s.ok()) s = c.Exec("COMMIT");
  if (!s.ok() && !c.lost()) (void)c.Exec("ROLLBACK");
  return s;
}

}  // namespace

// ----------------------------------------------------------------------------- PostgresStore

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo,
                                                           StoreOptions options) {
  auto conn = PgConnection::Connect(conninfo, options.synchronous_full);
  if (!conn.ok()) return conn.status();
  PgConnection& c = **conn;
  const std::string at = "the state store at " + c.where();
  if (c.server_version() < 100000)  // identity columns
    return Status::FailedPrecondition(at + " runs PostgreSQL " +
                                      std::to_string(c.server_version()) +
                                      "; muster needs version 10 or newer");
  if (const std::string enc = c.server_encoding(); enc != "UTF8" && enc != "SQL_ASCII")
    return Status::FailedPrecondition(at + " is a database in encoding " + enc +
                                      "; muster needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8')");
  if (Status s = Migrate(c); !s.ok()) {
    if (s.code() != StatusCode::kInternal) return s;  // unreachable, newer, or said already
    std::string why = s.message();
    if (why.starts_with("store: ")) why.erase(0, 7);
    // e.g. a role that may not create tables, or a read-only server
    return Status::FailedPrecondition(at + " cannot be set up: " + why);
  }
  if (options.leader_term > 0) {
    const int64_t idle_ms = std::max<int64_t>(500, options.leader_lease_ms / 2);
    if (Status s = (*conn)->SetSessionSettings("SET idle_in_transaction_session_timeout = " +
                                               std::to_string(idle_ms));
        !s.ok())
      return s;
  }
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(conn).value(), options));
}

PostgresStore::PostgresStore(std::unique_ptr<PgConnection> conn, StoreOptions options)
    : where_(conn->where()),
      leader_term_(options.leader_term),
      conn_(std::move(conn)),
      queue_(options.max_batch, [this](std::span<Write> writes) { return CommitBatch(writes); }) {}

PostgresStore::~PostgresStore() {
  queue_.Stop();
}

Status PostgresStore::CommitBatch(std::span<Write> writes) {
  MutexLock lock(conn_mu_);
  PgConnection& c = *conn_;
  if (c.lost())
    if (Status s = c.Reconnect(); !s.ok()) return s;
  Status s = c.Exec("BEGIN");
  if (!s.ok() && c.lost()) {
    // The connection died while idle (the server restarted since the last batch); nothing of
    // this batch was sent yet, so a new connection may run it.
    if (Status r = c.Reconnect(); !r.ok()) return r;
    s = c.Exec("BEGIN");
  }
  if (!s.ok()) return s;
  if (leader_term_ > 0) s = CheckTerm(c);
  for (size_t i = 0; i < writes.size() && s.ok(); ++i) s = writes[i](c);
  if (s.ok()) s = c.Exec("COMMIT");
  // A session left inside a transaction would fail every later batch: a new one then.
  if (!s.ok() && !c.lost() && !c.Exec("ROLLBACK").ok()) (void)c.Reconnect();
  return s;
}

Status PostgresStore::CheckTerm(PgConnection& c) {
  auto rows = c.Query(kLockLeaderTerm);
  if (!rows.ok()) return rows.status();
  const int64_t term = rows->size() == 1 ? rows->Int(0, 0) : 0;
  if (!rows->status().ok()) return rows->status();
  if (term == leader_term_) return Status::Ok();
  return Status::FailedPrecondition(
      "deposed: the state store at " + where_ + " is led by term " + std::to_string(term) +
      " now, not this coordinator's " + std::to_string(leader_term_) + "; its write was refused");
}

template <typename T, typename Read>
Result<T> PostgresStore::WithConnection(Read&& read) {
  MutexLock lock(conn_mu_);
  for (int attempt = 0;; ++attempt) {
    if (conn_->lost())
      if (Status s = conn_->Reconnect(); !s.ok()) return s;
    Result<T> r = read(*conn_);
    if (r.ok() || attempt > 0 || !conn_->lost()) return r;
  }
}

Status PostgresStore::Wait(Ticket t) {
  return queue_.Wait(t);
}

Status PostgresStore::Flush() {
  return queue_.Flush();
}

uint64_t PostgresStore::CommittedBatches() const {
  return queue_.CommittedBatches();
}

uint64_t PostgresStore::FailedWrites() const {
  return queue_.FailedWrites();
}

Status PostgresStore::LastWriteError() const {
  return queue_.LastWriteError();
}

PostgresStore::Ticket PostgresStore::InsertJob(const JobRecord& job) {
  return Enqueue([job, blob = EncodeStoredSpec(*job.spec)](PgConnection& c) -> Status {
    Status s = c.Run(kInsertJob, PgParams()
                                     .Int(job.id)
                                     .Bytes(blob)
                                     .Text(JobStateName(job.state))
                                     .Int(job.submit_ms)
                                     .Int(job.start_ms)
                                     .Int(job.end_ms)
                                     .Text(job.reason));
    for (const auto& t : job.tasks) {
      if (!s.ok()) break;
      if (IsAsSubmitted(t)) continue;  // no row until it changes (records.h)
      s = RunTask(c, job.id, t);
    }
    if (s.ok()) s = c.Run(kBumpNextJobId, PgParams().Int(job.id + 1));
    return s;
  });
}

PostgresStore::Ticket PostgresStore::UpdateJob(const JobRecord& job) {
  return Enqueue([id = job.id, state = job.state, start = job.start_ms, end = job.end_ms,
                  reason = job.reason](PgConnection& c) {
    return c.Run(kUpdateJob,
                 PgParams().Int(id).Text(JobStateName(state)).Int(start).Int(end).Text(reason));
  });
}

PostgresStore::Ticket PostgresStore::UpdateTask(JobId job, const TaskRecord& task) {
  return Enqueue([job, task](PgConnection& c) { return RunTask(c, job, task); });
}

PostgresStore::Ticket PostgresStore::UpdateProgress(JobId job, int index, std::string progress) {
  return Enqueue([job, index, progress = std::move(progress)](PgConnection& c) {
    return c.Run(kUpdateProgress, PgParams().Int(job).Int(index).Bytes(progress));
  });
}

PostgresStore::Ticket PostgresStore::UpsertNode(const NodeRecord& node) {
  v1::NodeSpec spec;
  ToProto(node.spec, &spec, node.address);
  return Enqueue([name = node.spec.name, blob = spec.SerializeAsString(),
                  seen = node.last_seen_ms](PgConnection& c) {
    return c.Run(kUpsertNode, PgParams().Text(name).Bytes(blob).Int(seen));
  });
}

PostgresStore::Ticket PostgresStore::UpdateDrain(const NodeRecord& node) {
  return Enqueue([name = node.spec.name, reason = node.drain_reason, by = node.drained_by,
                  at = node.drain_ms](PgConnection& c) {
    if (at <= 0) return c.Run(kDeleteDrain, PgParams().Text(name));
    return c.Run(kUpsertDrain, PgParams().Text(name).Text(reason).Text(by).Int(at));
  });
}

PostgresStore::Ticket PostgresStore::AppendJobHistory(JobId job, TimeMs time_ms,
                                                      const std::string& text) {
  return Enqueue([job, time_ms, text](PgConnection& c) {
    return c.Run(kAppendHistory, PgParams().Int(job).Int(time_ms).Text(text));
  });
}

PostgresStore::Ticket PostgresStore::UpdatePin(const JobRecord& job) {
  return Enqueue([id = job.id, node = job.pinned_node, reason = job.migrate_reason,
                  expires = job.pin_expires_ms](PgConnection& c) {
    if (node.empty() && reason.empty()) return c.Run(kDeletePin, PgParams().Int(id));
    return c.Run(kUpsertPin, PgParams().Int(id).Text(node).Text(reason).Int(expires));
  });
}

PostgresStore::Ticket PostgresStore::UpdateHold(const JobRecord& job) {
  return Enqueue([id = job.id, by = job.held_by, at = job.held_ms](PgConnection& c) {
    if (at <= 0) return c.Run(kDeleteHold, PgParams().Int(id));
    return c.Run(kUpsertHold, PgParams().Int(id).Text(by).Int(at));
  });
}

PostgresStore::Ticket PostgresStore::UpdatePrediction(const JobRecord& job) {
  return Enqueue([id = job.id, p = job.submit_prediction](PgConnection& c) {
    return c.Run(kUpsertPrediction, PgParams()
                                        .Int(id)
                                        .Int(p.made_ms)
                                        .Int(p.start_ms)
                                        .Int(p.finish_ms)
                                        .Real(p.low_s)
                                        .Real(p.high_s));
  });
}

PostgresStore::Ticket PostgresStore::AppendAudit(const AuditRecord& r) {
  return Enqueue([r](PgConnection& c) {
    return c.Run(kAppendAudit, PgParams()
                                   .Int(r.time_ms)
                                   .Text(r.identity)
                                   .Text(r.role)
                                   .Text(r.via)
                                   .Text(r.peer)
                                   .Text(r.action)
                                   .Text(r.target)
                                   .Text(r.result));
  });
}

PostgresStore::Ticket PostgresStore::UpsertUser(const UserRecord& user) {
  return Enqueue([user](PgConnection& c) {
    return c.Run(kUpsertUser, PgParams()
                                  .Text(user.name)
                                  .Text(user.role)
                                  .Text(user.token_hash)
                                  .Int(user.created_ms)
                                  .Text(user.cert_fp));
  });
}

PostgresStore::Ticket PostgresStore::DeleteUser(const std::string& name) {
  return Enqueue([name](PgConnection& c) { return c.Run(kDeleteUser, PgParams().Text(name)); });
}

PostgresStore::Ticket PostgresStore::UpsertJoinToken(const JoinTokenRecord& token) {
  return Enqueue([token](PgConnection& c) {
    return c.Run(kUpsertJoinToken,
                 PgParams().Text(token.hash).Text(token.node).Int(token.expires_ms));
  });
}

PostgresStore::Ticket PostgresStore::DeleteJoinToken(const std::string& hash) {
  return Enqueue(
      [hash](PgConnection& c) { return c.Run(kDeleteJoinToken, PgParams().Text(hash)); });
}

PostgresStore::Ticket PostgresStore::DeleteJob(JobId job) {
  return Enqueue([job](PgConnection& c) -> Status {
    for (const char* sql : kDeleteJobSql)
      if (Status s = c.Run(sql, PgParams().Int(job)); !s.ok()) return s;
    return Status::Ok();
  });
}

PostgresStore::Ticket PostgresStore::InsertUsage(const UsageRow& row) {
  return Enqueue([row](PgConnection& c) {
    return c.Run(kInsertUsage, PgParams()
                                   .Text(row.node)
                                   .Int(row.time_ms)
                                   .Real(row.predicted)
                                   .Real(row.measured)
                                   .Real(row.load)
                                   .Real(row.cpu_load));
  });
}

PostgresStore::Ticket PostgresStore::PruneUsage(TimeMs before_ms) {
  return Enqueue(
      [before_ms](PgConnection& c) { return c.Run(kPruneUsage, PgParams().Int(before_ms)); });
}

PostgresStore::Ticket PostgresStore::UpsertLimit(const LimitRecord& l) {
  return Enqueue([l](PgConnection& c) {
    return c.Run(kUpsertLimit, PgParams()
                                   .Text(l.kind)
                                   .Text(l.name)
                                   .Int(l.max_gpus)
                                   .Int(l.max_milli_cpus)
                                   .Int(l.max_jobs)
                                   .Text(l.set_by)
                                   .Int(l.set_ms));
  });
}

PostgresStore::Ticket PostgresStore::DeleteLimit(const std::string& kind, const std::string& name) {
  return Enqueue([kind, name](PgConnection& c) {
    return c.Run(kDeleteLimit, PgParams().Text(kind).Text(name));
  });
}

PostgresStore::Ticket PostgresStore::InsertAccounting(const AccountingRow& row) {
  return Enqueue([row](PgConnection& c) {
    return c.Run(kInsertAccounting, PgParams()
                                        .Int(row.job)
                                        .Int(row.index)
                                        .Int(row.attempt)
                                        .Text(row.user)
                                        .Text(row.name)
                                        .Text(row.node)
                                        .Text(row.state)
                                        .Int(row.exit_code)
                                        .Int(row.submit_ms)
                                        .Int(row.start_ms)
                                        .Int(row.end_ms)
                                        .Int(row.gpus)
                                        .Int(row.milli_cpus)
                                        .Real(row.cpu_seconds)
                                        .Int(row.peak_memory_mib)
                                        .Real(row.gpu_util)
                                        .Real(row.energy_wh));
  });
}

// ------------------------------------------------------------------------------------ reads

Result<std::vector<AuditRecord>> PostgresStore::LoadAudit(TimeMs since_ms,
                                                          const std::string& identity, int limit) {
  return WithConnection<std::vector<AuditRecord>>(
      [&](PgConnection& c) -> Result<std::vector<AuditRecord>> {
        // The newest `limit` rows (all with limit <= 0: LIMIT NULL), returned oldest first.
        PgParams p;
        p.Int(since_ms).Text(identity);
        if (limit > 0)
          p.Int(limit);
        else
          p.NullInt();
        auto rows = c.Query(kLoadAudit, p);
        if (!rows.ok()) return rows.status();
        std::vector<AuditRecord> out;
        for (int r = rows->size() - 1; r >= 0; --r)
          out.push_back({rows->Int(r, 0), rows->Text(r, 1), rows->Text(r, 2), rows->Text(r, 3),
                         rows->Text(r, 4), rows->Text(r, 5), rows->Text(r, 6), rows->Text(r, 7)});
        if (Status s = rows->status(); !s.ok()) return s;
        return out;
      });
}

Result<std::vector<UsageRow>> PostgresStore::LoadUsage(TimeMs since_ms) {
  return WithConnection<std::vector<UsageRow>>(
      [&](PgConnection& c) -> Result<std::vector<UsageRow>> {
        auto rows = c.Query(kLoadUsage, PgParams().Int(since_ms));
        if (!rows.ok()) return rows.status();
        std::vector<UsageRow> out;
        for (int r = 0; r < rows->size(); ++r)
          out.push_back({rows->Text(r, 0), rows->Int(r, 1), rows->Real(r, 2), rows->Real(r, 3),
                         rows->Real(r, 4), rows->Real(r, 5)});
        if (Status s = rows->status(); !s.ok()) return s;
        return out;
      });
}

Result<std::vector<AccountingRow>> PostgresStore::LoadAccounting(TimeMs since_ms,
                                                                 const std::string& user,
                                                                 JobId job) {
  return WithConnection<std::vector<AccountingRow>>(
      [&](PgConnection& c) -> Result<std::vector<AccountingRow>> {
        auto rows = c.Query(kLoadAccounting, PgParams().Int(since_ms).Text(user).Int(job));
        if (!rows.ok()) return rows.status();
        std::vector<AccountingRow> out;
        for (int r = 0; r < rows->size(); ++r) {
          AccountingRow a;
          a.job = rows->Int(r, 0);
          a.index = static_cast<int>(rows->Int(r, 1));
          a.attempt = rows->Int(r, 2);
          a.user = rows->Text(r, 3);
          a.name = rows->Text(r, 4);
          a.node = rows->Text(r, 5);
          a.state = rows->Text(r, 6);
          a.exit_code = static_cast<int>(rows->Int(r, 7));
          a.submit_ms = rows->Int(r, 8);
          a.start_ms = rows->Int(r, 9);
          a.end_ms = rows->Int(r, 10);
          a.gpus = static_cast<int>(rows->Int(r, 11));
          a.milli_cpus = rows->Int(r, 12);
          a.cpu_seconds = rows->Real(r, 13);
          a.peak_memory_mib = rows->Int(r, 14);
          a.gpu_util = rows->Real(r, 15);
          a.energy_wh = rows->Real(r, 16);
          out.push_back(std::move(a));
        }
        if (Status s = rows->status(); !s.ok()) return s;
        return out;
      });
}

Result<StoreContents> PostgresStore::LoadAll() {
  return WithConnection<StoreContents>([&](PgConnection& c) -> Result<StoreContents> {
    // One snapshot for all tables.
    if (Status s = c.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s.ok()) return s;
    Result<StoreContents> out = LoadAllOn(c);
    if (!c.lost()) (void)c.Exec(out.ok() ? "COMMIT" : "ROLLBACK");
    return out;
  });
}

Result<StoreContents> PostgresStore::LoadAllOn(PgConnection& c) {
  StoreContents out;
  auto jobs = c.Query(kLoadJobs);
  if (!jobs.ok()) return jobs.status();
  std::unordered_map<JobId, size_t> slot;
  for (int r = 0; r < jobs->size(); ++r) {
    const JobId id = jobs->Int(r, 0);
    auto spec = DecodeStoredSpec(jobs->Bytes(r, 1));
    if (!jobs->status().ok()) return jobs->status();
    if (!spec.ok())
      return Status::Internal("store: job " + std::to_string(id) + ": " + spec.status().message());
    JobRecord j;
    j.id = id;
    j.spec = std::make_shared<const JobSpec>(std::move(spec).value());
    j.state = ParseJobState(jobs->Text(r, 2)).value_or(JobState::kFailed);
    j.submit_ms = jobs->Int(r, 3);
    j.start_ms = jobs->Int(r, 4);
    j.end_ms = jobs->Int(r, 5);
    j.reason = jobs->Text(r, 6);
    slot[id] = out.jobs.size();
    out.jobs.push_back(std::move(j));
  }
  if (Status s = jobs->status(); !s.ok()) return s;

  auto tasks = c.Query(kLoadTasks);
  if (!tasks.ok()) return tasks.status();
  for (int r = 0; r < tasks->size(); ++r) {
    auto it = slot.find(tasks->Int(r, 0));
    if (it == slot.end()) continue;
    TaskRecord t;
    t.index = static_cast<int>(tasks->Int(r, 1));
    t.state = ParseTaskState(tasks->Text(r, 2)).value_or(TaskState::kFailed);
    t.attempt = tasks->Int(r, 3);
    t.node = tasks->Text(r, 4);
    if (!SplitGpuList(tasks->Text(r, 5), &t.gpus))
      return Status::Internal("store: task " + std::to_string(it->first) + "." +
                              std::to_string(t.index) + " has an unreadable GPU list");
    t.exit_code = static_cast<int>(tasks->Int(r, 6));
    t.retries = static_cast<int>(tasks->Int(r, 7));
    t.lost_requeues = static_cast<int>(tasks->Int(r, 8));
    t.start_ms = tasks->Int(r, 9);
    t.end_ms = tasks->Int(r, 10);
    t.message = tasks->Text(r, 11);
    t.progress = tasks->Bytes(r, 12);
    t.peak_memory_mib = static_cast<int32_t>(tasks->Int(r, 13));
    t.cpu_seconds = static_cast<float>(tasks->Real(r, 14));
    out.jobs[it->second].tasks.push_back(std::move(t));
  }
  if (Status s = tasks->status(); !s.ok()) return s;
  for (JobRecord& j : out.jobs) FillUnstoredTasks(j);  // tasks as submitted have no row

  auto nodes = c.Query(kLoadNodes);
  if (!nodes.ok()) return nodes.status();
  for (int r = 0; r < nodes->size(); ++r) {
    v1::NodeSpec proto;
    if (!proto.ParseFromString(nodes->Bytes(r, 1)) || !nodes->status().ok())
      return Status::Internal("store: node " + nodes->Text(r, 0) + " has an unreadable spec");
    NodeRecord n;
    n.spec = FromProto(proto);
    n.spec.name = nodes->Text(r, 0);
    n.address = proto.address();
    n.last_seen_ms = nodes->Int(r, 2);
    out.nodes.push_back(std::move(n));
  }
  if (Status s = nodes->status(); !s.ok()) return s;
  auto drains = c.Query(kLoadDrains);
  if (!drains.ok()) return drains.status();
  for (int r = 0; r < drains->size(); ++r) {
    const std::string name = drains->Text(r, 0);
    auto it = std::find_if(out.nodes.begin(), out.nodes.end(),
                           [&](const NodeRecord& n) { return n.spec.name == name; });
    if (it == out.nodes.end()) continue;  // a node no longer known
    it->drain_reason = drains->Text(r, 1);
    it->drained_by = drains->Text(r, 2);
    it->drain_ms = drains->Int(r, 3);
  }
  if (Status s = drains->status(); !s.ok()) return s;

  auto history = c.Query(kLoadHistory);
  if (!history.ok()) return history.status();
  for (int r = 0; r < history->size(); ++r) {
    auto it = slot.find(history->Int(r, 0));
    if (it != slot.end()) out.jobs[it->second].history.push_back(history->Text(r, 1));
  }
  if (Status s = history->status(); !s.ok()) return s;

  auto pins = c.Query(kLoadPins);
  if (!pins.ok()) return pins.status();
  for (int r = 0; r < pins->size(); ++r) {
    auto it = slot.find(pins->Int(r, 0));
    if (it == slot.end()) continue;
    JobRecord& j = out.jobs[it->second];
    j.pinned_node = pins->Text(r, 1);
    j.migrate_reason = pins->Text(r, 2);
    j.pin_expires_ms = pins->Int(r, 3);
  }
  if (Status s = pins->status(); !s.ok()) return s;
  auto predictions = c.Query(kLoadPredictions);
  if (!predictions.ok()) return predictions.status();
  for (int r = 0; r < predictions->size(); ++r) {
    auto it = slot.find(predictions->Int(r, 0));
    if (it == slot.end()) continue;
    out.jobs[it->second].submit_prediction = {.made_ms = predictions->Int(r, 1),
                                              .start_ms = predictions->Int(r, 2),
                                              .finish_ms = predictions->Int(r, 3),
                                              .low_s = predictions->Real(r, 4),
                                              .high_s = predictions->Real(r, 5)};
  }
  if (Status s = predictions->status(); !s.ok()) return s;
  auto holds = c.Query(kLoadHolds);
  if (!holds.ok()) return holds.status();
  for (int r = 0; r < holds->size(); ++r) {
    auto it = slot.find(holds->Int(r, 0));
    if (it == slot.end()) continue;
    out.jobs[it->second].held_by = holds->Text(r, 1);
    out.jobs[it->second].held_ms = holds->Int(r, 2);
  }
  if (Status s = holds->status(); !s.ok()) return s;

  auto meta = c.Query(kLoadMeta);
  if (!meta.ok()) return meta.status();
  for (int r = 0; r < meta->size(); ++r) {
    if (meta->Text(r, 0) == "epoch")
      out.epoch = meta->Int(r, 1);
    else
      out.next_job_id = std::max<JobId>(out.next_job_id, meta->Int(r, 1));
  }
  if (Status s = meta->status(); !s.ok()) return s;
  for (const auto& j : out.jobs) out.next_job_id = std::max(out.next_job_id, j.id + 1);

  auto users = c.Query(kLoadUsers);
  if (!users.ok()) return users.status();
  for (int r = 0; r < users->size(); ++r)
    out.users.push_back({users->Text(r, 0), users->Text(r, 1), users->Text(r, 2), users->Int(r, 3),
                         users->Text(r, 4)});
  if (Status s = users->status(); !s.ok()) return s;
  auto joins = c.Query(kLoadJoinTokens);
  if (!joins.ok()) return joins.status();
  for (int r = 0; r < joins->size(); ++r)
    out.join_tokens.push_back({joins->Text(r, 0), joins->Text(r, 1), joins->Int(r, 2)});
  if (Status s = joins->status(); !s.ok()) return s;
  auto limits = c.Query(kLoadLimits);
  if (!limits.ok()) return limits.status();
  for (int r = 0; r < limits->size(); ++r)
    out.limits.push_back({limits->Text(r, 0), limits->Text(r, 1),
                          static_cast<int>(limits->Int(r, 2)), limits->Int(r, 3),
                          static_cast<int>(limits->Int(r, 4)), limits->Text(r, 5),
                          limits->Int(r, 6)});
  if (Status s = limits->status(); !s.ok()) return s;
  return out;
}

}  // namespace muster::cluster
