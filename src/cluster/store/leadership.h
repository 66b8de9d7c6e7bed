// Leadership: which of the coordinators sharing one PostgreSQL database leads, decided by the
// database itself (docs/decisions/0008-leadership-lease-row.md).
//
// One row, table `leader` (created by Open beside PostgresStore's schema, under the same advisory
// lock): the current term (an epoch that only grows), its holder (a name unique per coordinator
// process), the address clients reach it at, and when its lease expires. Expiry is judged on the
// database server's clock alone (clock_timestamp()), so the coordinators' clocks never need to
// agree.
//
//   TryLead   takes the lease when it has expired (or was resigned, or never held, or is the
//             caller's own): the term grows by one and is the caller's; otherwise says who holds
//             it.
//   Renew     pushes the expiry of the caller's term out by the lease; fails with
//             kFailedPrecondition ("deposed") once the term is no longer the caller's.
//   Resign    ends the caller's lease now, so that a standby takes over at its next try.
//
// Fencing: a PostgresStore opened with StoreOptions::leader_term checks, inside every write
// transaction, that the row's term is still its own (SELECT ... FOR KEY SHARE): a deposed
// leader's late writes are refused by the database, and a new term (TryLead locks the row FOR
// UPDATE first) cannot be taken while a write of the old one is in flight, so the new leader
// loads every write the old one committed. A renewal updates no key column, so it does not wait
// for the leader's own batches. Calls give up on a row lock after 1 s (lock_timeout) rather than
// block behind a frozen leader's open batch, which the server ends after half a lease.
//
// The lease holder must also stop acting on its own before its lease can have expired: the
// coordinator (cli/cmd_coordinator.cc) renews every lease/3 and steps down when no renewal has
// succeeded for most of a lease, measured on its monotonic clock from the start of the last
// renewal that succeeded (which is before the database computed the expiry it set).
//
// Thread-safety: all methods are thread-safe (one connection, one mutex; a call waits for the one
// in flight).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cluster/common/mutex.h"
#include "core/status.h"

namespace muster::cluster {

class PgConnection;

struct LeaderInfo {
  int64_t term = 0;          // 0 = never held
  std::string holder;        // who holds (or last held) it
  std::string address;       // where its clients reach it
  int64_t expires_in_ms = 0;  // <= 0: expired, free to take
};

class Leadership {
 public:
  // Connects to `conninfo` (as PostgresStore::Open) and creates the row if it is missing.
  // `holder` names this process (MakeHolderName); `address` is what clients are told.
  static Result<std::unique_ptr<Leadership>> Open(const std::string& conninfo, std::string holder,
                                                  std::string address);
  ~Leadership();
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // The new term when the lease was free and is now this holder's for `lease_ms`; nullopt when
  // another holds an unexpired lease (Current() says who). kUnavailable when the database cannot
  // be reached.
  Result<std::optional<int64_t>> TryLead(int64_t lease_ms) EXCLUDES(mu_);
  // Extends `term` by `lease_ms` from now. kFailedPrecondition when another term began.
  Status Renew(int64_t term, int64_t lease_ms) EXCLUDES(mu_);
  // Ends `term`'s lease now; Ok also when it had already been taken over.
  Status Resign(int64_t term) EXCLUDES(mu_);
  Result<LeaderInfo> Current() EXCLUDES(mu_);

  const std::string& holder() const { return holder_; }

 private:
  Leadership(std::unique_ptr<PgConnection> conn, std::string holder, std::string address);
  // Runs `op` on the connection, reconnecting first when it was lost, and once more when the
  // connection is found lost by `op`.
  template <typename T, typename Op>
  Result<T> On(Op&& op) EXCLUDES(mu_);

  const std::string holder_, address_;
  Mutex mu_;
  std::unique_ptr<PgConnection> conn_ PT_GUARDED_BY(mu_);
};

// A holder name unique to this process: "HOST/PID/RANDOM".
std::string MakeHolderName();

}  // namespace muster::cluster
