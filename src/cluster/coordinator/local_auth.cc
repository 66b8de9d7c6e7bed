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
#include <algorithm>
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
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("state dir path too long for a Unix socket: " + path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  // Bound in a private directory beside it, given its mode, then renamed into place: there is
  // never a moment in which anyone else could connect, and no process-wide umask is touched.
  std::string tmpdir = path.substr(0, path.rfind('/') + 1) + ".auth-XXXXXX";
  if (!mkdtemp(tmpdir.data())) {
    close(fd);
    return Status::Unavailable("cannot create a directory beside " + path + ": " +
                               std::strerror(errno));
  }
  const std::string tmp = tmpdir + "/s";
  sockaddr_un taddr{};
  taddr.sun_family = AF_UNIX;
  std::memcpy(taddr.sun_path, tmp.c_str(),
              std::min(tmp.size() + 1, sizeof taddr.sun_path - 1));
  auto fail = [&](const std::string& what) {
    int e = errno;
    close(fd);
    unlink(tmp.c_str());
    rmdir(tmpdir.c_str());
    return Status::Unavailable(what + " " + path + ": " + std::strerror(e));
  };
  if (tmp.size() >= sizeof taddr.sun_path) {
    errno = ENAMETOOLONG;
    return fail("cannot bind");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&taddr), sizeof taddr) != 0) return fail("cannot bind");
  const mode_t mode = auth->options().allow_local_users ? 0666 : 0600;
  if (chmod(tmp.c_str(), mode) != 0 || listen(fd, 64) != 0) return fail("cannot listen on");
  // Replaces a socket left by a coordinator that died; its lock file keeps out a live one.
  if (rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot move the socket to");
  rmdir(tmpdir.c_str());
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
