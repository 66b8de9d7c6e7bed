// Options shared by the durable stores (SqliteStore, PostgresStore).
#pragma once

#include <cstdint>

namespace muster::cluster {

struct StoreOptions {
  // true: a committed batch survives power loss. false: it survives a crash of the coordinator
  // only (SQLite synchronous=NORMAL; PostgreSQL synchronous_commit=off, where a crash of the
  // database server may lose the last commits, never corrupt them).
  bool synchronous_full = true;
  int max_batch = 4096;  // writes per transaction at most
  // PostgresStore only: > 0 fences every write transaction with this leadership term
  // (leadership.h): a transaction that finds another term in the leader row is rolled back and
  // its writes fail with kFailedPrecondition ("deposed"). 0 = no fencing (one coordinator).
  int64_t leader_term = 0;
  // With leader_term: the leader's lease. A session of this store left inside a transaction for
  // half of it (its coordinator frozen, or cut off, mid-batch) is ended by the server, so that the
  // row lock of its fence cannot keep a standby from taking over.
  int64_t leader_lease_ms = 5000;
};

}  // namespace muster::cluster
