// See local_auth.h.
#include "cluster/coordinator/local_auth.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace muster::cluster {

namespace {

std::string UserName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* out = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) != 0 || out == nullptr) return "";
  return out->pw_name;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Result<std::unique_ptr<LocalAuthListener>> LocalAuthListener::Start(const std::string& path,
                                                                    Authenticator* auth) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("state dir path too long for a Unix socket: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  unlink(path.c_str());  // a socket left by a coordinator that died; up.lock keeps out a live one
  // Bind with no permissions, then open it up exactly as far as configured: never a window in
  // which anyone else could connect.
  mode_t old = umask(0777);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    return Status::Unavailable("cannot bind " + path + ": " + std::strerror(bind_errno));
  }
  const mode_t mode = auth->options().allow_local_users ? 0666 : 0600;
  if (chmod(path.c_str(), mode) != 0 || listen(fd, 64) != 0) {
    int e = errno;
    close(fd);
    unlink(path.c_str());
    return Status::Internal("cannot listen on " + path + ": " + std::strerror(e));
  }
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) {
    close(fd);
    unlink(path.c_str());
    return Status::Internal(std::string("pipe: ") + std::strerror(errno));
  }
  return std::unique_ptr<LocalAuthListener>(new LocalAuthListener(path, fd, stop, auth));
}

LocalAuthListener::LocalAuthListener(std::string path, int fd, int stop_fd[2],
                                     Authenticator* auth)
    : path_(std::move(path)), fd_(fd), stop_{stop_fd[0], stop_fd[1]}, auth_(auth) {
  thread_ = std::thread([this] { Loop(); });
}

LocalAuthListener::~LocalAuthListener() {
  char b = 1;
  ssize_t w = write(stop_[1], &b, 1);
  (void)w;
  thread_.join();
  close(fd_);
  close(stop_[0]);
  close(stop_[1]);
  unlink(path_.c_str());
}

void LocalAuthListener::Loop() {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("local auth socket: poll: {}", std::strerror(errno));
      return;
    }
    if (p[1].revents != 0) return;
    if (p[0].revents == 0) continue;
    int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    ++served_;
    timeval tv{1, 0};  // a client that never reads cannot hold the listener
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Serve(conn);
    close(conn);
  }
}

void LocalAuthListener::Serve(int conn) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    WriteAll(conn, "MUSTER-AUTH 1 error cannot read the caller's credentials\n");
    return;
  }
  auto issued = auth_->IssueLocalSession(cred.uid, UserName(cred.uid));
  if (!issued.ok()) {
    spdlog::warn("local caller uid {} (pid {}) refused: {}", cred.uid, cred.pid,
                 issued.status().message());
    WriteAll(conn, "MUSTER-AUTH 1 error " + issued.status().message() + "\n");
    return;
  }
  const auto& [token, caller] = *issued;
  WriteAll(conn, "MUSTER-AUTH 1 ok " + token + " " + caller.name + " " + RoleName(caller.role) +
                     "\n");
}

}  // namespace muster::cluster
