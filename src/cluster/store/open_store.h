// OpenStateStore: the StateStore that a store URL names, for the coordinator's choice of backend.
//
//   ""                                  SqliteStore at default_sqlite_path (<state dir>/state.db)
//   sqlite://PATH                       SqliteStore at PATH (sqlite:///var/lib/muster/state.db)
//   postgres://USER:PASSWORD@HOST:PORT/DB, postgresql://...
//                                       PostgresStore (libpq's URI, query parameters included)
//
// Anything else is refused with one line listing these forms. Store URLs may hold a password:
// log them through RedactStoreUrl only.
#pragma once

#include <memory>
#include <string>

#include "cluster/store/state_store.h"
#include "cluster/store/store_options.h"

namespace muster::cluster {

Result<std::unique_ptr<StateStore>> OpenStateStore(const std::string& url,
                                                   const std::string& default_sqlite_path,
                                                   StoreOptions options = {});

// `url` (a store URL, or libpq key=value pairs) for logs and messages: any password removed
// (postgres://ann:secret@db/m -> postgres://ann@db/m; password and sslpassword pairs and
// query parameters dropped).
std::string RedactStoreUrl(const std::string& url);

// postgres:// or postgresql://: a store that several coordinators may share (leadership.h).
bool IsPostgresStoreUrl(const std::string& url);

}  // namespace muster::cluster
