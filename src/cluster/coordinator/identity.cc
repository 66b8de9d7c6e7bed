// See identity.h.
#include "cluster/coordinator/identity.h"

#include <openssl/rand.h>

#include <cstdio>
#include <stdexcept>

#include "cluster/common/pki.h"

namespace muster::cluster {

namespace {

constexpr std::string_view kTokenPrefix = "mst_";

}  // namespace

std::string NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed: no random source");
  return std::string(kTokenPrefix) + HexEncode(bytes, sizeof bytes);
}

std::string HashToken(std::string_view token) {
  return Sha256Hex(token);
}

bool ValidPrincipalName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '-' || name[0] == '.') return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

Authenticator::Authenticator(AuthOptions options, StateStore* store, const Clock* clock)
    : options_(options), store_(store), clock_(clock) {}

void Authenticator::Load(const std::vector<UserRecord>& users) {
  MutexLock lock(mu_);
  users_.clear();
  by_hash_.clear();
  for (const auto& u : users) {
    users_[u.name] = u;
    by_hash_[u.token_hash] = u.name;
  }
}

Result<Caller> Authenticator::FromToken(std::string_view token) const {
  if (!token.starts_with(kTokenPrefix) || token.size() != kTokenPrefix.size() + 64)
    return Status::Unauthenticated("malformed token (muster tokens look like mst_<64 hex digits>)");
  const std::string hash = HashToken(token);
  MutexLock lock(mu_);
  if (auto it = sessions_.find(hash); it != sessions_.end()) {
    if (it->second.expires_ms <= clock_->MonotonicMs())
      return Status::Unauthenticated("local session expired; run the command again");
    Caller c = it->second.caller;
    if (!it->second.owner) c.role = LocalRole(c.name);
    return c;
  }
  if (auto it = by_hash_.find(hash); it != by_hash_.end()) {
    const UserRecord& u = users_.at(it->second);
    auto role = ParseRole(u.role);
    if (!role) return Status::Unauthenticated("user " + u.name + " has an unknown role");
    return Caller{.name = u.name, .role = *role, .via = "token"};
  }
  return Status::Unauthenticated("unknown token (revoked, rotated, or for another cluster)");
}

Result<std::pair<std::string, Caller>> Authenticator::IssueLocalSession(int64_t uid,
                                                                         const std::string& name) {
  Caller c;
  c.uid = uid;
  c.via = "local uid " + std::to_string(uid);
  c.name = name.empty() ? "uid" + std::to_string(uid) : name;
  const bool owner = uid == options_.owner_uid || uid == 0;
  if (owner) {
    c.role = Role::kAdmin;
  } else if (options_.allow_local_users) {
    c.role = Role::kUser;
  } else {
    return Status::PermissionDenied(
        "permission denied: this cluster admits only its owner locally; the owner can start it "
        "with `muster up --allow-local-users`, or give you a token (`muster admin user add`)");
  }
  const std::string token = NewToken();
  MutexLock lock(mu_);
  if (!owner) c.role = LocalRole(c.name);
  const TimeMs now = clock_->MonotonicMs();
  // Expired sessions go; then the oldest of this uid beyond its share (one local user looping on
  // the socket cannot push out everyone else's), then the oldest overall.
  size_t mine = 0;
  auto oldest_mine = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.expires_ms <= now) {
      it = sessions_.erase(it);
      continue;
    }
    if (it->second.caller.uid == uid) {
      ++mine;
      if (oldest_mine == sessions_.end() || it->second.expires_ms < oldest_mine->second.expires_ms)
        oldest_mine = it;
    }
    ++it;
  }
  if (mine >= options_.max_sessions_per_uid && oldest_mine != sessions_.end())
    sessions_.erase(oldest_mine);
  while (sessions_.size() >= options_.max_sessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (it->second.expires_ms < oldest->second.expires_ms) oldest = it;
    sessions_.erase(oldest);
  }
  sessions_[HashToken(token)] = {c, owner, now + options_.session_ttl_ms};
  return std::make_pair(token, c);
}

Role Authenticator::LocalRole(const std::string& name) const {
  if (auto it = users_.find(name); it != users_.end())
    if (auto role = ParseRole(it->second.role); role && *role != Role::kAgent) return *role;
  return Role::kUser;
}

Status Authenticator::Persist(const UserRecord& u) {
  return store_->Wait(store_->UpsertUser(u));
}

Result<std::string> Authenticator::AddUser(const std::string& name, Role role) {
  if (!ValidPrincipalName(name))
    return Status::InvalidArgument("invalid user name '" + name +
                                   "': use 1-64 letters, digits, '.', '_' or '-'");
  const std::string token = NewToken();
  MutexLock lock(mu_);
  if (users_.contains(name)) return Status::AlreadyExists("user " + name + " already exists");
  UserRecord u{name, RoleName(role), HashToken(token), clock_->NowMs()};
  if (Status s = Persist(u); !s.ok()) return s;
  by_hash_[u.token_hash] = name;
  users_[name] = std::move(u);
  return token;
}

Result<std::string> Authenticator::RotateUser(const std::string& name) {
  const std::string token = NewToken();
  MutexLock lock(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return Status::NotFound("no user " + name);
  UserRecord u = it->second;
  u.token_hash = HashToken(token);
  if (Status s = Persist(u); !s.ok()) return s;
  by_hash_.erase(it->second.token_hash);
  by_hash_[u.token_hash] = name;
  it->second = std::move(u);
  return token;
}

Status Authenticator::RemoveUser(const std::string& name) {
  MutexLock lock(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return Status::NotFound("no user " + name);
  if (Status s = store_->Wait(store_->DeleteUser(name)); !s.ok()) return s;
  by_hash_.erase(it->second.token_hash);
  users_.erase(it);
  return Status::Ok();
}

void Authenticator::LoadJoinTokens(const std::vector<JoinTokenRecord>& tokens) {
  MutexLock lock(mu_);
  joins_.clear();
  for (const auto& t : tokens) joins_[t.hash] = {t.node, t.expires_ms};
}

Result<std::string> Authenticator::CreateJoinToken(const std::string& node, DurationMs ttl_ms) {
  std::string token = "mstj_" + NewToken().substr(4);
  MutexLock lock(mu_);
  const TimeMs now = clock_->NowMs();
  for (auto it = joins_.begin(); it != joins_.end();) {
    if (it->second.expires_ms > now) {
      ++it;
      continue;
    }
    store_->DeleteJoinToken(it->first);  // forgotten either way; a failure leaves a dead row
    it = joins_.erase(it);
  }
  const JoinTokenRecord rec{HashToken(token), node, now + ttl_ms};
  // Stored before it is shown: a token the coordinator could forget in a restart is not made.
  if (Status s = store_->Wait(store_->UpsertJoinToken(rec)); !s.ok()) return s;
  joins_[rec.hash] = {node, rec.expires_ms};
  return token;
}

Result<bool> Authenticator::ConsumeJoinToken(std::string_view token, const std::string& node) {
  MutexLock lock(mu_);
  auto it = joins_.find(HashToken(token));
  if (it == joins_.end())
    return Status::Unauthenticated("unknown join token (used already, or made by another "
                                   "coordinator); ask an admin for a new one");
  const Join j = it->second;
  // One use, whatever happens next, and across a restart: the store forgets it first.
  if (Status s = store_->Wait(store_->DeleteJoinToken(it->first)); !s.ok()) return s;
  joins_.erase(it);
  if (j.expires_ms <= clock_->NowMs())
    return Status::Unauthenticated("the join token has expired; ask an admin for a new one");
  if (!j.node.empty() && j.node != node)
    return Status::PermissionDenied("permission denied: the join token is for node " + j.node +
                                    ", not " + node);
  return !j.node.empty();
}

Status Authenticator::EnrollNode(const std::string& node, const std::string& cert_fingerprint,
                                 bool replace) {
  MutexLock lock(mu_);
  auto it = users_.find(node);
  if (it != users_.end() && it->second.role != RoleName(Role::kAgent))
    return Status::AlreadyExists("the name " + node + " belongs to a user that is not a node");
  if (it != users_.end() && !replace)
    return Status::AlreadyExists("node " + node +
                                 " has joined already; an any-name token cannot take its name "
                                 "(revoke it, or make a token with --node " + node + ")");
  UserRecord u{node, RoleName(Role::kAgent), "cert:" + cert_fingerprint, clock_->NowMs()};
  if (Status s = Persist(u); !s.ok()) return s;
  if (it != users_.end()) by_hash_.erase(it->second.token_hash);
  by_hash_[u.token_hash] = node;
  users_[node] = std::move(u);
  return Status::Ok();
}

Result<Caller> Authenticator::FromCertificate(const std::string& cn,
                                              const std::string& fingerprint) const {
  MutexLock lock(mu_);
  auto it = users_.find(cn);
  if (it != users_.end() && it->second.role == RoleName(Role::kAgent)) {
    if (it->second.token_hash != "cert:" + fingerprint)
      return Status::Unauthenticated("the certificate of node " + cn +
                                     " was revoked or replaced; join again with a new token");
    return Caller{.name = cn, .role = Role::kAgent, .via = "certificate"};
  }
  if (it == users_.end())  // removed: a node's or a user's, the name no longer counts
    return Status::Unauthenticated("the certificate of " + cn +
                                   " was revoked or replaced (a node joins again with a new "
                                   "token; a user gets a new certificate from an admin)");
  if (it->second.cert_fp.empty() || it->second.cert_fp != fingerprint)
    return Status::Unauthenticated("the certificate of " + cn +
                                   " was revoked or replaced (an admin makes a new one with "
                                   "muster admin user cert " + cn + ")");
  auto role = ParseRole(it->second.role);
  if (!role) return Status::Unauthenticated("user " + cn + " has an unknown role");
  return Caller{.name = cn, .role = *role, .via = "certificate"};
}

Status Authenticator::SetUserCertificate(const std::string& name,
                                         const std::string& cert_fingerprint) {
  MutexLock lock(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return Status::NotFound("no user " + name + " (muster admin user add)");
  if (it->second.role == RoleName(Role::kAgent))
    return Status::FailedPrecondition(name + " is a node; nodes get certificates by joining");
  UserRecord u = it->second;
  u.cert_fp = cert_fingerprint;
  if (Status s = Persist(u); !s.ok()) return s;
  it->second = std::move(u);
  return Status::Ok();
}

bool Authenticator::IsNode(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = users_.find(name);
  return it != users_.end() && it->second.role == RoleName(Role::kAgent);
}

bool Authenticator::IsUser(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = users_.find(name);
  return it != users_.end() && it->second.role != RoleName(Role::kAgent);
}

std::vector<UserRecord> Authenticator::Users() const {
  MutexLock lock(mu_);
  std::vector<UserRecord> out;
  for (const auto& [name, u] : users_) out.push_back(u);
  return out;
}

}  // namespace muster::cluster
