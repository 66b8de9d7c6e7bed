// Options shared by the durable stores (SqliteStore, PostgresStore).
#pragma once

namespace muster::cluster {

struct StoreOptions {
  // true: a committed batch survives power loss. false: it survives a crash of the coordinator
  // only (SQLite synchronous=NORMAL; PostgreSQL synchronous_commit=off, where a crash of the
  // database server may lose the last commits, never corrupt them).
  bool synchronous_full = true;
  int max_batch = 4096;  // writes per transaction at most
};

}  // namespace muster::cluster
