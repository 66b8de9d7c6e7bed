#include "cluster/store/open_store.h"

#include <cctype>
#include <sstream>

#include "cluster/store/postgres_store.h"
#include "cluster/store/sqlite_store.h"

namespace muster::cluster {
namespace {

constexpr std::string_view kSqlite = "sqlite://";

template <typename Store>
Result<std::unique_ptr<StateStore>> AsStateStore(Result<std::unique_ptr<Store>> r) {
  if (!r.ok()) return r.status();
  return std::unique_ptr<StateStore>(std::move(r).value());
}

// Query parameters and key=value keys that carry a secret.
bool IsSecretKey(const std::string& key) {
  return key == "password" || key == "sslpassword";
}

// A URI without the password of its user info and without secret query parameters. The user
// info ends at the first '@' before any '/', as libpq reads it (so a password may hold '?' or
// ':'), and the query starts at the first '?' after it.
std::string RedactUri(std::string uri, size_t authority) {
  const size_t stop = uri.find_first_of("@/", authority);
  size_t host = authority;
  if (stop != std::string::npos && uri[stop] == '@') {
    if (const size_t colon = uri.find(':', authority); colon < stop) uri.erase(colon, stop - colon);
    host = uri.find('@', authority) + 1;
  }
  if (size_t q = uri.find('?', host); q != std::string::npos) {
    std::stringstream in(uri.substr(q + 1));
    std::string kept;
    for (std::string part; std::getline(in, part, '&');)
      if (!IsSecretKey(part.substr(0, part.find('=')))) kept += (kept.empty() ? "" : "&") + part;
    uri = uri.substr(0, q) + (kept.empty() ? "" : "?" + kept);
  }
  return uri;
}

// libpq's key=value pairs without password=...; values may be 'quoted \' like this'.
std::string RedactPairs(const std::string& s) {
  std::string out;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= n) break;
    const size_t start = i;
    while (i < n && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::string key = s.substr(start, i - start);
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i < n && s[i] == '=') {
      ++i;
      while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i < n && s[i] == '\'') {
        for (++i; i < n && s[i] != '\''; ++i)
          if (s[i] == '\\') ++i;
        ++i;
      } else {
        while (i < n && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      }
    }
    if (IsSecretKey(key)) continue;
    if (!out.empty()) out += ' ';
    out.append(s, start, std::min(i, n) - start);
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<StateStore>> OpenStateStore(const std::string& url,
                                                   const std::string& default_sqlite_path,
                                                   StoreOptions options) {
  if (url.empty()) return AsStateStore(SqliteStore::Open(default_sqlite_path, options));
  if (url.starts_with(kSqlite)) {
    const std::string path = url.substr(kSqlite.size());
    if (path.empty())
      return Status::InvalidArgument("the store URL sqlite:// names no file: use sqlite://PATH");
    return AsStateStore(SqliteStore::Open(path, options));
  }
  if (IsPostgresStoreUrl(url)) return AsStateStore(PostgresStore::Open(url, options));
  return Status::InvalidArgument(
      "unknown state store URL " + RedactStoreUrl(url) +
      ": use sqlite://PATH, postgres://USER:PASSWORD@HOST:PORT/DB (or postgresql://...), or "
      "none for the state dir's state.db");
}

bool IsPostgresStoreUrl(const std::string& url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

std::string RedactStoreUrl(const std::string& url) {
  if (url.starts_with(kSqlite)) return url;
  // A URI is one only from its start (a key=value value may hold "://").
  const size_t scheme = url.find("://");
  const bool uri = scheme != std::string::npos &&
                   url.find_first_of(" =") > scheme;  // no pair before the scheme
  if (uri) return RedactUri(url, scheme + 3);
  return url.find('=') != std::string::npos ? RedactPairs(url) : url;
}

}  // namespace muster::cluster
