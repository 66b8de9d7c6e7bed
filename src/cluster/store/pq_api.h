// libpq, loaded on first use (dlopen) instead of at every muster process's start.
//
// Only a coordinator with a postgres:// store needs libpq, but linking it made every process
// (each `muster submit`, each agent) load it and the 18 libraries it needs (Kerberos, LDAP,
// GnuTLS, ...). Measured here: a program linked with muster's libraries starts in 19.5 ms, and in
// 12.3 ms without those 19. The functions muster calls are looked up once, all of them, so a libpq
// without one of them fails the load, not a later call.
//
// Thread-safety: LoadPq may be called from any thread; the first call loads.
#pragma once

#include <libpq-fe.h>

#include "core/status.h"

namespace muster::cluster {

#define MUSTER_PQ_FUNCTIONS(X)                                                                   \
  X(PQclear) X(PQconnectdbParams) X(PQconnectionNeedsPassword) X(PQconninfoFree)                 \
  X(PQconninfoParse) X(PQerrorMessage) X(PQexec) X(PQexecPrepared) X(PQfinish) X(PQfname)        \
  X(PQfreemem) X(PQftype) X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQnfields) X(PQntuples)   \
  X(PQparameterStatus) X(PQprepare) X(PQreset) X(PQresultErrorField) X(PQresultStatus)            \
  X(PQserverVersion) X(PQsetNoticeProcessor) X(PQstatus)

// The functions, by their libpq names: Pq().PQexec(conn, sql).
struct PqApi {
#define MUSTER_PQ_MEMBER(name) decltype(&::name) name = nullptr;
  MUSTER_PQ_FUNCTIONS(MUSTER_PQ_MEMBER)
#undef MUSTER_PQ_MEMBER
};

// Loads libpq.so.5 once. FailedPrecondition naming the Debian package when it is missing or
// lacks a function.
Status LoadPq();
// The loaded functions; only after LoadPq() succeeded (every PostgreSQL entry point calls it).
const PqApi& Pq();

}  // namespace muster::cluster
