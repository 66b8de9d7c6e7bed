// Authenticator: turns the credential that came with a call into a Caller (access.h).
//
// Bearer tokens ("mst_" + 64 hex digits, 256 random bits from OpenSSL's RAND_bytes), of two
// kinds, and client certificates signed by the cluster CA (a node's, or a user's):
//   * user tokens, made by `muster admin user add|rotate` and kept in the store as SHA-256
//     hashes (UserRecord); they last until rotated or removed;
//   * local sessions, issued by the coordinator's Unix socket (local_auth.h) to a caller the
//     kernel identified (SO_PEERCRED); kept in memory only, for session_ttl_ms. A restarted
//     coordinator forgets them, and clients simply ask the socket again;
//   * one-time join tokens ("mstj_"), stored as hashes until used or expired;
//   * certificates, named by their CN and accepted only with the fingerprint recorded for that
//     node (EnrollNode) or user (SetUserCertificate).
// Local callers: the coordinator's own Unix user and root are admins; other local users are
// refused unless allow_local_users, and then have the user role. A stored user of the same name
// overrides that role (an admin may promote or demote a local user).
//
// Users are changed through this class, which writes the store and waits for the commit before
// it answers, so a reply never reports a change the store lost.
//
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/common/mutex.h"
#include "cluster/coordinator/access.h"
#include "cluster/store/state_store.h"
#include "core/clock.h"

namespace muster::cluster {

struct AuthOptions {
  int64_t owner_uid = -1;          // the coordinator's Unix user (geteuid); admin locally
  bool allow_local_users = false;  // other local users get the user role
  DurationMs session_ttl_ms = 12 * 3600 * 1000;
  size_t max_sessions = 10000;     // the oldest are dropped beyond this
  size_t max_sessions_per_uid = 64;
};

// A new random token.
std::string NewToken();
// Hex SHA-256 of a token: what the store keeps.
std::string HashToken(std::string_view token);
// True if `name` may name a user or node: 1-64 of [A-Za-z0-9._-], not starting with '-' or '.'.
bool ValidPrincipalName(std::string_view name);

class Authenticator {
 public:
  Authenticator(AuthOptions options, StateStore* store, const Clock* clock);

  // The users the store held at startup.
  void Load(const std::vector<UserRecord>& users);

  // The caller a bearer token names, or Unauthenticated.
  Result<Caller> FromToken(std::string_view token) const;

  // A caller the kernel identified on the local socket: uid and its user name ("" if the user
  // database does not know it). PermissionDenied with the reason when local users are not let
  // in; otherwise a session token for it.
  Result<std::pair<std::string, Caller>> IssueLocalSession(int64_t uid, const std::string& name);

  // ---- users (admin): each returns after its write is committed.
  // Adds a user with a new token, which is returned (and shown once). AlreadyExists if taken.
  Result<std::string> AddUser(const std::string& name, Role role);
  // A new token for an existing user; the old one stops working at once.
  Result<std::string> RotateUser(const std::string& name);
  Status RemoveUser(const std::string& name);
  std::vector<UserRecord> Users() const;
  // True if `name` is a node's credential (an agent user, by token or certificate).
  bool IsNode(const std::string& name) const;
  // True if `name` is a stored user that is not a node.
  bool IsUser(const std::string& name) const;

  // ---- nodes that join with a certificate
  // A one-time join token for node `node` ("" = any name), valid for ttl_ms (wall clock):
  // "mstj_<64 hex>". Stored (its SHA-256) before it is returned, so it survives a restart.
  Result<std::string> CreateJoinToken(const std::string& node, DurationMs ttl_ms);
  // The unused join tokens the store held at startup.
  void LoadJoinTokens(const std::vector<JoinTokenRecord>& tokens);
  // Uses up a join token for `node` (removed from the store first; its error if that fails);
  // Unauthenticated if it is unknown, used, expired or for another node. True when the token was made for that very name (it may replace the node's
  // credential), false for an any-name token.
  Result<bool> ConsumeJoinToken(std::string_view token, const std::string& node);
  // Records `node`'s certificate (its SHA-256) as that node's credential; stored as an agent user
  // whose token hash is "cert:<fingerprint>". An earlier credential of the node is replaced only
  // with `replace` (a token made for that name), else AlreadyExists; AlreadyExists too when a
  // user that is not an agent has the name.
  Status EnrollNode(const std::string& node, const std::string& cert_fingerprint, bool replace);
  // The caller a verified client certificate names: CN `cn`, if its fingerprint is the one
  // enrolled for that node, or the one recorded for that user (so removing the user, or a new
  // certificate for it, revokes it). A user keeps its role, read at every call.
  Result<Caller> FromCertificate(const std::string& cn, const std::string& fingerprint) const;

  // ---- users' client certificates
  // Records `name`'s client certificate (its SHA-256); an earlier one stops working. NotFound
  // for no such user, FailedPrecondition for a node. Returns after the write is committed.
  Status SetUserCertificate(const std::string& name, const std::string& cert_fingerprint);

  const AuthOptions& options() const { return options_; }

 private:
  struct Session {
    Caller caller;
    bool owner = false;  // the coordinator's user or root: admin, whatever the users table says
    TimeMs expires_ms = 0;
  };
  // The role of a local caller that is not the owner: the stored user of its name, if any (and
  // not an agent), else user. Read at every call, so a change to the user applies at once.
  Role LocalRole(const std::string& name) const REQUIRES(mu_);
  Status Persist(const UserRecord& u) REQUIRES(mu_);

  const AuthOptions options_;
  StateStore* store_;
  const Clock* clock_;
  mutable Mutex mu_;
  std::map<std::string, UserRecord> users_ GUARDED_BY(mu_);        // by name
  std::map<std::string, std::string> by_hash_ GUARDED_BY(mu_);     // token hash -> user name
  std::map<std::string, Session> sessions_ GUARDED_BY(mu_);        // token hash -> session
  struct Join {
    std::string node;  // "" = any
    TimeMs expires_ms = 0;
  };
  std::map<std::string, Join> joins_ GUARDED_BY(mu_);              // token hash -> join token
};

}  // namespace muster::cluster
