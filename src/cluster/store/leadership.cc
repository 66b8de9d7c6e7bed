#include "cluster/store/leadership.h"

#include <unistd.h>

#include <cstdio>
#include <random>

#include "cluster/store/pg_connection.h"

namespace muster::cluster {

namespace {

// The same lock as PostgresStore's migrations ("muster" in ASCII): one schema change at a time.
constexpr const char* kCreateLeader = R"sql(
BEGIN;
SELECT pg_advisory_xact_lock(120351215609202);
CREATE TABLE IF NOT EXISTS leader(
  id INTEGER PRIMARY KEY CHECK (id = 1), term BIGINT NOT NULL, holder TEXT NOT NULL,
  address TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL);
INSERT INTO leader(id, term, holder, address, expires_at) VALUES(1, 0, '', '', to_timestamp(0))
  ON CONFLICT(id) DO NOTHING;
COMMIT;
)sql";
// In one transaction with kLockForTerm first: a new term waits for the fenced batches in flight
// (FOR KEY SHARE, postgres_store.cc). The holder's own lease may be taken again at once (a
// coordinator that stepped down, or a retry of a TryLead whose reply was lost).
constexpr const char* kLockForTerm = "SELECT 1 FROM leader WHERE id = 1 FOR UPDATE";
constexpr const char* kTryLead =
    "UPDATE leader SET term = term + 1, holder = $1, address = $2, "
    "expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond' "
    "WHERE id = 1 AND (expires_at <= clock_timestamp() OR holder = $1) RETURNING term";
// A lock held longer (a batch of a frozen leader, until the server ends its session) fails the
// call instead of blocking it: the standby tries again at its next poll, the keeper at its next
// renewal.
constexpr const char* kSessionSettings = "SET lock_timeout = 1000";
constexpr const char* kRenew =
    "UPDATE leader SET expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond' "
    "WHERE id = 1 AND term = $1 AND holder = $2 RETURNING term";
constexpr const char* kResign =
    "UPDATE leader SET expires_at = to_timestamp(0) WHERE id = 1 AND term = $1 AND holder = $2";
constexpr const char* kCurrent =
    "SELECT term, holder, address, "
    "(EXTRACT(EPOCH FROM (expires_at - clock_timestamp())) * 1000)::bigint FROM leader "
    "WHERE id = 1";

}  // namespace

Result<std::unique_ptr<Leadership>> Leadership::Open(const std::string& conninfo,
                                                     std::string holder, std::string address) {
  auto conn = PgConnection::Connect(conninfo, /*synchronous_commit=*/true);
  if (!conn.ok()) return conn.status();
  if (Status s = (*conn)->SetSessionSettings(kSessionSettings); !s.ok()) return s;
  if (Status s = (*conn)->Exec(kCreateLeader); !s.ok()) {
    if (!(*conn)->lost()) (void)(*conn)->Exec("ROLLBACK");
    return s;
  }
  return std::unique_ptr<Leadership>(
      new Leadership(std::move(conn).value(), std::move(holder), std::move(address)));
}

Leadership::Leadership(std::unique_ptr<PgConnection> conn, std::string holder,
                       std::string address)
    : holder_(std::move(holder)), address_(std::move(address)), conn_(std::move(conn)) {}

Leadership::~Leadership() = default;

template <typename T, typename Op>
Result<T> Leadership::On(Op&& op) {
  MutexLock lock(mu_);
  for (int attempt = 0;; ++attempt) {
    if (conn_->lost())
      if (Status s = conn_->Reconnect(); !s.ok()) return s;
    // A connection found dead (the server restarted since the last call) is replaced and the
    // call made once more: each is safe to repeat (a TryLead that did commit finds the lease
    // held, and takes it again once it runs out).
    Result<T> r = op(*conn_);
    if (r.ok() || attempt > 0 || !conn_->lost()) return r;
  }
}

Result<std::optional<int64_t>> Leadership::TryLead(int64_t lease_ms) {
  return On<std::optional<int64_t>>(
      [&](PgConnection& c) -> Result<std::optional<int64_t>> {
        auto taken = [&]() -> Result<std::optional<int64_t>> {
          if (Status s = c.Exec("BEGIN"); !s.ok()) return s;
          if (auto lock = c.Query(kLockForTerm); !lock.ok()) return lock.status();
          auto rows = c.Query(kTryLead, PgParams().Text(holder_).Text(address_).Int(lease_ms));
          if (!rows.ok()) return rows.status();
          std::optional<int64_t> term;
          if (rows->size() > 0) term = rows->Int(0, 0);
          if (!rows->status().ok()) return rows->status();
          if (Status s = c.Exec("COMMIT"); !s.ok()) return s;
          return term;
        }();
        if (!taken.ok() && !c.lost()) (void)c.Exec("ROLLBACK");
        return taken;
      });
}

Status Leadership::Renew(int64_t term, int64_t lease_ms) {
  auto renewed = On<bool>([&](PgConnection& c) -> Result<bool> {
    auto rows = c.Query(kRenew, PgParams().Int(term).Text(holder_).Int(lease_ms));
    if (!rows.ok()) return rows.status();
    return rows->size() == 1;
  });
  if (!renewed.ok()) return renewed.status();
  if (!*renewed)
    return Status::FailedPrecondition("deposed: the leadership of term " + std::to_string(term) +
                                      " was taken over");
  return Status::Ok();
}

Status Leadership::Resign(int64_t term) {
  return On<bool>([&](PgConnection& c) -> Result<bool> {
           if (Status s = c.Run(kResign, PgParams().Int(term).Text(holder_)); !s.ok()) return s;
           return true;
         })
      .status();
}

Result<LeaderInfo> Leadership::Current() {
  return On<LeaderInfo>([&](PgConnection& c) -> Result<LeaderInfo> {
    auto rows = c.Query(kCurrent);
    if (!rows.ok()) return rows.status();
    if (rows->size() != 1) return Status::Internal("store: the leader row is missing");
    LeaderInfo info{.term = rows->Int(0, 0),
                    .holder = rows->Text(0, 1),
                    .address = rows->Text(0, 2),
                    .expires_in_ms = rows->Int(0, 3)};
    if (!rows->status().ok()) return rows->status();
    return info;
  });
}

std::string MakeHolderName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::random_device rd;
  char tail[32];
  std::snprintf(tail, sizeof tail, "/%d/%08x", static_cast<int>(::getpid()), rd());
  return std::string(host) + tail;
}

}  // namespace muster::cluster
