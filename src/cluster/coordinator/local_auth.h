// LocalAuthListener: the coordinator's Unix socket (<state_dir>/auth.sock, kLocalAuthSocketName), where a process on
// the coordinator's machine proves who it is without any secret: the kernel tells the listener
// the connecting process's uid (SO_PEERCRED), and the listener answers with a session token for
// that uid (Authenticator::IssueLocalSession), which the caller then sends with its gRPC calls.
// This is how `muster up` followed by `muster submit` needs no setup, and how local users of a
// shared machine are told apart (the way munge and the Slurm daemons trust the local kernel).
//
// The socket file is 0600 (only the owner, and root, can connect), or 0666 with
// allow_local_users; the state directory must then be searchable by others (0711).
//
// Protocol: the listener writes one line and closes:
//   "MUSTER-AUTH 1 ok <token> <name> <role>\n"  or  "MUSTER-AUTH 1 error <message>\n".
// The client sends nothing. One connection is served at a time, each within a short deadline.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "cluster/common/credentials.h"
#include "cluster/coordinator/identity.h"
#include "core/status.h"

namespace muster::cluster {

class LocalAuthListener {
 public:
  // Binds `path` (replacing a stale socket file) and starts serving.
  static Result<std::unique_ptr<LocalAuthListener>> Start(const std::string& path,
                                                          Authenticator* auth);
  ~LocalAuthListener();  // stops serving and removes the socket file
  LocalAuthListener(const LocalAuthListener&) = delete;
  LocalAuthListener& operator=(const LocalAuthListener&) = delete;

  const std::string& path() const { return path_; }
  // Connections accepted so far (each answered ok or refused).
  int served() const { return served_.load(); }

 private:
  LocalAuthListener(std::string path, int fd, int stop_fd[2], Authenticator* auth);
  void Loop();
  void Serve(int conn);

  const std::string path_;
  const int fd_;
  int stop_[2];
  Authenticator* auth_;
  std::atomic<int> served_{0};
  std::thread thread_;
};

}  // namespace muster::cluster
