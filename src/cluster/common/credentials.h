// Where a client's credential comes from, and the local session handshake (the other side of
// cluster/coordinator/local_auth.h).
//
// A TokenSource gives the bearer token every call carries ("authorization: Bearer <token>"):
//   0. a token file named explicitly (an agent's --token-file);
//   1. $MUSTER_TOKEN, if set;
//   2. else a session from the coordinator's Unix socket in the state directory, if that socket
//      exists on this machine: the coordinator identifies this process's Unix user by the
//      kernel's peer credentials, so `muster up` followed by `muster submit` needs no setup;
//   3. else the token file (~/.config/muster/token, or the one named), refused when group or
//      others may read it;
//   4. else none: calls go without a credential and the coordinator refuses them with a line
//      that says how to get one.
// A local session can expire or be forgotten by a restarted coordinator; Refresh asks the
// socket again.
//
// Thread-safety: a TokenSource may be shared by threads.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"

namespace muster::cluster {

inline constexpr const char* kTokenEnv = "MUSTER_TOKEN";
inline constexpr const char* kStateDirEnv = "MUSTER_STATE_DIR";
inline constexpr const char* kLocalAuthSocketName = "auth.sock";  // in a coordinator's state dir
// The coordinator's gRPC services on a Unix socket in its state dir, for callers on its machine:
// no TCP, no TLS handshake; the kernel keeps the bytes private (the socket is as open as
// auth.sock). Calls still carry their bearer token.
inline constexpr const char* kLocalGrpcSocketName = "grpc.sock";

// $MUSTER_STATE_DIR, else ~/.local/state/muster (where `muster up` keeps its state).
std::string DefaultStateDir();
// <dir>/auth.sock, or <dir>/coordinator/auth.sock for a `muster up` state dir; "" if neither
// exists.
std::string FindLocalAuthSocket(const std::string& state_dir);
// The coordinator address written in the state dir (coordinator.addr, or coordinator/… for a
// `muster up` state dir); "" if there is none.
std::string ReadStateDirAddress(const std::string& state_dir);

// The coordinator's gRPC Unix socket in `state_dir` (as FindLocalAuthSocket looks), if `address`
// is the address that coordinator wrote there, i.e. it is the same coordinator; else "".
std::string FindLocalGrpcSocket(const std::string& state_dir, const std::string& address);

// Makes a state dir private (0700), or searchable but not listable by everyone (0711) when
// `others_may_call`. A directory that is not this user's, or that has the sticky bit (/tmp), is
// left as it is: false, with a warning to log.
bool RestrictStateDir(const std::string& dir, bool others_may_call, std::string* warning);

struct LocalSession {
  std::string token;
  std::string name;  // who the coordinator says this process is
  std::string role;
};
// Asks the socket at `path` for a session. PermissionDenied carries the coordinator's reason.
Result<LocalSession> RequestLocalSession(const std::string& path);

// Reads a token file (first line, trimmed); refuses a file others may read.
Result<std::string> ReadTokenFile(const std::string& path);

class TokenSource {
 public:
  // As the header comment says; `state_dir` "" = DefaultStateDir(), `token_file` "" = the
  // default file.
  static std::shared_ptr<TokenSource> Resolve(const std::string& state_dir = "",
                                              const std::string& token_file = "");
  // A fixed token (tests, or one already read).
  static std::shared_ptr<TokenSource> Fixed(std::string token);
  // Sessions from the local socket at `socket_path` only (a coordinator this process started).
  static std::shared_ptr<TokenSource> Local(std::string socket_path);

  // The token to send; "" when there is none. An error when the source exists but fails (an
  // unreadable token file, a refused local session).
  Result<std::string> Token();
  // After the coordinator refused the token: ask the local socket again. False if the token
  // does not come from a local socket (refreshing cannot help).
  bool Refresh();
  // "local session (alice, admin)", "$MUSTER_TOKEN", "token file PATH", "none".
  std::string Describe();

 private:
  enum class Kind { kNone, kFixed, kLocal, kFile };
  Kind kind_ = Kind::kNone;
  std::string where_;  // socket or file path
  std::mutex mu_;
  std::string token_;  // GUARDED_BY(mu_)
  std::string name_, role_;  // GUARDED_BY(mu_)
  bool fetched_ = false;     // GUARDED_BY(mu_)
};

}  // namespace muster::cluster
