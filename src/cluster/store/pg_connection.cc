#include "cluster/store/pg_connection.h"

#include <endian.h>

#include <cctype>
#include <cstring>
#include <utility>

#include "cluster/store/pq_api.h"

namespace muster::cluster {
namespace {

// Type OIDs (catalog/pg_type_d.h, which libpq-dev does not ship).
constexpr unsigned kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
                   kTextOid = 25, kFloat4Oid = 700, kFloat8Oid = 701, kVarcharOid = 1043;

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...").
std::string OneLine(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// `s` as valid UTF-8 without NULs: every byte that does not start a well-formed sequence (and
// every NUL) becomes U+FFFD.
std::string ValidUtf8(std::string_view s) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c != 0 && c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    }
    bool ok = len > 0 && i + len <= n && p[i + 1] >= lo && p[i + 1] <= hi;
    for (size_t k = 2; ok && k < len; ++k) ok = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

uint64_t Load64(const char* d) {
  uint64_t v;
  std::memcpy(&v, d, 8);
  return be64toh(v);
}

// The secret of a conninfo as written: the password of a URI's user info, or the value of a
// password= pair. Messages about a conninfo that does not parse could quote it.
std::string SecretOf(const std::string& conninfo) {
  if (auto scheme = conninfo.find("://"); scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t at = conninfo.find('@', start);
    const size_t end = conninfo.find_first_of("/?", start);
    if (at != std::string::npos && (end == std::string::npos || at < end)) {
      const size_t colon = conninfo.find(':', start);
      if (colon != std::string::npos && colon < at)
        return conninfo.substr(colon + 1, at - colon - 1);
    }
  }
  if (auto p = conninfo.find("password="); p != std::string::npos) {
    const size_t start = p + 9;
    const size_t end = conninfo.find_first_of(" &", start);
    return conninfo.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return "";
}

std::string Redacted(std::string msg, const std::string& secret) {
  if (secret.empty()) return msg;
  for (size_t p; (p = msg.find(secret)) != std::string::npos;) msg.replace(p, secret.size(), "***");
  return msg;
}

void IgnoreNotice(void*, const char*) {}

bool Contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// ------------------------------------------------------------------------------------ PgParams

PgParams& PgParams::Add(unsigned type, std::string value, bool null) {
  types_.push_back(type);
  values_.push_back(std::move(value));
  null_.push_back(null);
  return *this;
}

PgParams& PgParams::Int(int64_t v) {
  const uint64_t be = htobe64(static_cast<uint64_t>(v));
  return Add(kInt8Oid, std::string(reinterpret_cast<const char*>(&be), 8));
}

PgParams& PgParams::Real(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  const uint64_t be = htobe64(bits);
  return Add(kFloat8Oid, std::string(reinterpret_cast<const char*>(&be), 8));
}

PgParams& PgParams::Text(std::string_view v) {
  return Add(kTextOid, ValidUtf8(v));
}
PgParams& PgParams::Bytes(std::string_view v) {
  return Add(kByteaOid, std::string(v));
}
PgParams& PgParams::NullInt() {
  return Add(kInt8Oid, "", true);
}

// -------------------------------------------------------------------------------------- PgRows

PgRows::PgRows(pg_result* res) : res_(res, Pq().PQclear) {}

int PgRows::size() const {
  return Pq().PQntuples(res_.get());
}

void PgRows::Fail(int col, const char* why) {
  if (error_.ok())
    error_ = Status::Internal(std::string("store: column ") + Pq().PQfname(res_.get(), col) + " " + why);
}

bool PgRows::Cell(int row, int col, const char** data, int* len) {
  if (row < 0 || row >= size() || col < 0 || col >= Pq().PQnfields(res_.get())) {
    if (error_.ok()) error_ = Status::Internal("store: a query returned fewer columns than read");
    return false;
  }
  if (Pq().PQgetisnull(res_.get(), row, col)) return false;
  *data = Pq().PQgetvalue(res_.get(), row, col);
  *len = Pq().PQgetlength(res_.get(), row, col);
  return true;
}

int64_t PgRows::Int(int row, int col) {
  const char* d = nullptr;
  int len = 0;
  if (!Cell(row, col, &d, &len)) return 0;
  switch (Pq().PQftype(res_.get(), col)) {
    case kInt8Oid:
      if (len == 8) return static_cast<int64_t>(Load64(d));
      break;
    case kInt4Oid:
      if (len == 4) {
        uint32_t v;
        std::memcpy(&v, d, 4);
        return static_cast<int32_t>(be32toh(v));
      }
      break;
    case kInt2Oid:
      if (len == 2) {
        uint16_t v;
        std::memcpy(&v, d, 2);
        return static_cast<int16_t>(be16toh(v));
      }
      break;
    case kBoolOid:
      if (len == 1) return d[0] != 0;
      break;
  }
  Fail(col, "is not an integer");
  return 0;
}

double PgRows::Real(int row, int col) {
  const char* d = nullptr;
  int len = 0;
  if (!Cell(row, col, &d, &len)) return 0;
  const unsigned type = Pq().PQftype(res_.get(), col);
  if (type == kFloat8Oid && len == 8) {
    const uint64_t bits = Load64(d);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
  if (type == kFloat4Oid && len == 4) {
    uint32_t bits;
    std::memcpy(&bits, d, 4);
    bits = be32toh(bits);
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  Fail(col, "is not a real number");
  return 0;
}

std::string PgRows::Text(int row, int col) {
  const char* d = nullptr;
  int len = 0;
  if (!Cell(row, col, &d, &len)) return "";
  const unsigned type = Pq().PQftype(res_.get(), col);
  if (type != kTextOid && type != kVarcharOid) {
    Fail(col, "is not text");
    return "";
  }
  return std::string(d, len);
}

std::string PgRows::Bytes(int row, int col) {
  const char* d = nullptr;
  int len = 0;
  if (!Cell(row, col, &d, &len)) return "";
  if (Pq().PQftype(res_.get(), col) != kByteaOid) {
    Fail(col, "is not bytea");
    return "";
  }
  return std::string(d, len);
}

// -------------------------------------------------------------------------------- PgConnection

std::string PgWhere(const std::string& conninfo) {
  if (!LoadPq().ok()) return "";
  char* err = nullptr;
  PQconninfoOption* opts = Pq().PQconninfoParse(conninfo.c_str(), &err);
  Pq().PQfreemem(err);
  if (!opts) return "";
  std::string host, hostaddr, port, db;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    const std::string k = o->keyword;
    if (k == "host") host = o->val;
    if (k == "hostaddr") hostaddr = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  Pq().PQconninfoFree(opts);
  if (host.empty()) host = hostaddr.empty() ? "localhost" : hostaddr;
  return host + ":" + (port.empty() ? "5432" : port) + "/" + db;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo,
                                                            bool synchronous_commit) {
  if (Status loaded = LoadPq(); !loaded.ok()) return loaded;
  const std::string secret = SecretOf(conninfo);
  {
    char* err = nullptr;
    PQconninfoOption* opts = Pq().PQconninfoParse(conninfo.c_str(), &err);
    if (!opts) {
      std::string why = OneLine(err ? err : "out of memory");
      Pq().PQfreemem(err);
      return Status::InvalidArgument(
          "the state store URL is not a valid PostgreSQL connection string (" +
          Redacted(why, secret) + "); expected postgres://USER:PASSWORD@HOST:PORT/DB");
    }
    Pq().PQconninfoFree(opts);
  }
  const std::string where = PgWhere(conninfo);
  // Defaults before the conninfo (which may override them), the encoding after it (which may
  // not): connect within 10 s, and notice a server that went silent in about 15 s rather than
  // at TCP's timeouts of minutes.
  const std::pair<const char*, const char*> params[] = {
      {"connect_timeout", "10"},    {"tcp_user_timeout", "15000"}, {"keepalives_idle", "10"},
      {"keepalives_interval", "5"}, {"keepalives_count", "3"},     {"application_name", "muster"},
      {"dbname", conninfo.c_str()}, {"client_encoding", "UTF8"}};
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : params) {
    keys.push_back(k);
    values.push_back(v);
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* conn = Pq().PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!conn) return Status::Unavailable("the state store at " + where + ": out of memory");
  if (Pq().PQstatus(conn) != CONNECTION_OK) {
    const std::string why = Redacted(OneLine(Pq().PQerrorMessage(conn)), secret);
    const bool needs_password = Pq().PQconnectionNeedsPassword(conn);
    Pq().PQfinish(conn);
    if (needs_password)
      return Status::Unauthenticated("the state store at " + where +
                                     " needs a password: give it in the URL "
                                     "(postgres://USER:PASSWORD@HOST:PORT/DB) or in ~/.pgpass");
    if (Contains(why, "authentication failed") || Contains(why, "pg_hba.conf") ||
        (Contains(why, "role \"") && Contains(why, "does not exist")))
      return Status::Unauthenticated("the state store at " + where + " refused the login: " + why);
    if (Contains(why, "database \"") && Contains(why, "does not exist"))
      return Status::FailedPrecondition("the state store at " + where + " has no such database (" +
                                        why + "); create it first (createdb)");
    return Status::Unavailable("the state store at " + where + " cannot be reached: " + why);
  }
  std::unique_ptr<PgConnection> c(new PgConnection(conn, where, synchronous_commit));
  if (Status s = c->Setup(); !s.ok()) return s;
  return c;
}

PgConnection::PgConnection(pg_conn* conn, std::string where, bool synchronous_commit)
    : conn_(conn), where_(std::move(where)), synchronous_commit_(synchronous_commit) {
  // Notices ("relation already exists, skipping") would go to stderr; the store has nothing to
  // tell from them. The processor survives PQreset.
  Pq().PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
}

PgConnection::~PgConnection() {
  Pq().PQfinish(conn_);
}

Status PgConnection::Setup() {
  prepared_.clear();
  Status s =
      Exec(synchronous_commit_ ? "SET synchronous_commit = on" : "SET synchronous_commit = off");
  if (s.ok() && !session_settings_.empty()) s = Exec(session_settings_.c_str());
  return s;
}

Status PgConnection::SetSessionSettings(std::string sql) {
  session_settings_ = std::move(sql);
  return Exec(session_settings_.c_str());
}

bool PgConnection::lost() const {
  return Pq().PQstatus(conn_) != CONNECTION_OK;
}

Status PgConnection::Reconnect() {
  prepared_.clear();
  Pq().PQreset(conn_);
  if (Pq().PQstatus(conn_) != CONNECTION_OK)
    return Status::Unavailable("the state store at " + where_ +
                               " cannot be reached: " + OneLine(Pq().PQerrorMessage(conn_)));
  return Setup();
}

int PgConnection::server_version() const {
  return Pq().PQserverVersion(conn_);
}

std::string PgConnection::server_encoding() const {
  const char* e = Pq().PQparameterStatus(conn_, "server_encoding");
  return e ? e : "";
}

Status PgConnection::Failure(pg_result* res) {
  const char* primary = res ? Pq().PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* state = res ? Pq().PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string why = OneLine(primary ? primary : Pq().PQerrorMessage(conn_));
  if (why.empty()) why = "unknown error";
  const bool lost_state =
      state && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P", 3) == 0);
  if (lost() || lost_state)
    return Status::Unavailable("the state store at " + where_ + " cannot be reached: " + why);
  return Status::Internal("store: " + why);
}

Status PgConnection::Exec(const char* sql) {
  if (lost()) return Failure(nullptr);
  pg_result* res = Pq().PQexec(conn_, sql);
  const ExecStatusType st = res ? Pq().PQresultStatus(res) : PGRES_FATAL_ERROR;
  Status s = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? Status::Ok() : Failure(res);
  Pq().PQclear(res);
  return s;
}

Result<pg_result*> PgConnection::Execute(const char* sql, const PgParams& p, bool rows) {
  if (lost()) return Failure(nullptr);
  const int n = static_cast<int>(p.values_.size());
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "muster_" + std::to_string(prepared_.size());
    pg_result* res = Pq().PQprepare(conn_, name.c_str(), sql, n, p.types_.data());
    if (!res || Pq().PQresultStatus(res) != PGRES_COMMAND_OK) {
      Status s = Failure(res);
      Pq().PQclear(res);
      return s;
    }
    Pq().PQclear(res);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  std::vector<const char*> values(n);
  std::vector<int> lengths(n), formats(n, 1);
  for (int i = 0; i < n; ++i) {
    values[i] = p.null_[i] ? nullptr : p.values_[i].data();
    lengths[i] = static_cast<int>(p.values_[i].size());
  }
  pg_result* res = Pq().PQexecPrepared(conn_, it->second.c_str(), n, values.data(), lengths.data(),
                                  formats.data(), /*resultFormat=binary*/ 1);
  if (!res || Pq().PQresultStatus(res) != (rows ? PGRES_TUPLES_OK : PGRES_COMMAND_OK)) {
    Status s = Failure(res);
    Pq().PQclear(res);
    return s;
  }
  return res;
}

Status PgConnection::Run(const char* sql, const PgParams& params) {
  auto res = Execute(sql, params, /*rows=*/false);
  if (!res.ok()) return res.status();
  Pq().PQclear(*res);
  return Status::Ok();
}

Result<PgRows> PgConnection::Query(const char* sql, const PgParams& params) {
  auto res = Execute(sql, params, /*rows=*/true);
  if (!res.ok()) return res.status();
  return PgRows(*res);
}

}  // namespace muster::cluster
