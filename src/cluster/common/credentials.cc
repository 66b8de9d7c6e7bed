// See credentials.h.
#include "cluster/common/credentials.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace muster::cluster {

namespace {

bool IsSocket(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Whether a process accepts connections on the Unix socket at `path` (a connect, closed at once).
bool Listens(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string Home() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : ".";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

std::string DefaultStateDir() {
  if (const char* d = std::getenv(kStateDirEnv); d && *d) return d;
  return Home() + "/.local/state/muster";
}

std::string FindLocalAuthSocket(const std::string& state_dir) {
  for (const std::string& p : {state_dir + "/" + kLocalAuthSocketName,
                               state_dir + "/coordinator/" + kLocalAuthSocketName})
    if (IsSocket(p)) return p;
  return "";
}

std::string ReadStateDirAddress(const std::string& state_dir) {
  for (const std::string& p :
       {state_dir + "/coordinator.addr", state_dir + "/coordinator/coordinator.addr"}) {
    std::ifstream in(p);
    std::string line;
    if (in && std::getline(in, line) && !Trim(line).empty()) return Trim(line);
  }
  return "";
}

std::string FindLocalGrpcSocket(const std::string& state_dir, const std::string& address) {
  if (address.empty() || address.find(',') != std::string::npos) return "";
  if (ReadStateDirAddress(state_dir) != address) return "";
  for (const std::string& p : {state_dir + "/" + kLocalGrpcSocketName,
                               state_dir + "/coordinator/" + kLocalGrpcSocketName})
    if (IsSocket(p)) return Listens(p) ? p : "";  // not one a crashed coordinator left
  return "";
}

bool RestrictStateDir(const std::string& dir, bool others_may_call, std::string* warning) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *warning = "cannot read " + dir;
    return false;
  }
  if (st.st_uid != geteuid() || (st.st_mode & S_ISVTX) != 0) {
    *warning = dir + " is shared (not this user's, or sticky): its permissions are left as they "
               "are; use a directory of your own as the state dir";
    return false;
  }
  if (chmod(dir.c_str(), others_may_call ? 0711 : 0700) != 0) {
    *warning = "cannot set the permissions of " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

Result<LocalSession> RequestLocalSession(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Status::InvalidArgument("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    close(fd);
    if (e == EACCES || e == EPERM)
      return Status::PermissionDenied(
          "permission denied: " + path +
          " admits only the cluster's owner (they can start it with --allow-local-users)");
    return Status::Unavailable("cannot reach the coordinator's local socket " + path + ": " +
                               std::strerror(e) + " (is it running?)");
  }
  std::string reply;
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (reply.find('\n') == std::string::npos && reply.size() < 4096) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  std::istringstream in(reply);
  std::string magic, version, verdict;
  in >> magic >> version >> verdict;
  if (magic != "MUSTER-AUTH" || version != "1")
    return Status::Unavailable("no muster coordinator answered on " + path);
  if (verdict == "error") {
    std::string why;
    std::getline(in, why);
    why = Trim(why);
    if (why.rfind("permission denied", 0) == 0) return Status::PermissionDenied(why);
    return Status::Unavailable(why);
  }
  LocalSession s;
  in >> s.token >> s.name >> s.role;
  if (verdict != "ok" || s.token.empty())
    return Status::Unavailable("malformed answer from " + path);
  return s;
}

Result<std::string> ReadTokenFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    return Status::NotFound("cannot read token file " + path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return Status::PermissionDenied("token file " + path +
                                    " may be read by others; chmod 600 it first");
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || Trim(line).empty())
    return Status::InvalidArgument("token file " + path + " is empty");
  return Trim(line);
}

std::shared_ptr<TokenSource> TokenSource::Resolve(const std::string& state_dir,
                                                  const std::string& token_file) {
  auto s = std::make_shared<TokenSource>();
  if (!token_file.empty()) {  // named explicitly: it wins
    s->kind_ = Kind::kFile;
    s->where_ = token_file;
    return s;
  }
  if (const char* t = std::getenv(kTokenEnv); t && *t) {
    s->kind_ = Kind::kFixed;
    s->token_ = Trim(t);
    s->where_ = std::string("$") + kTokenEnv;
    return s;
  }
  std::string sock = FindLocalAuthSocket(state_dir.empty() ? DefaultStateDir() : state_dir);
  if (!sock.empty()) {
    s->kind_ = Kind::kLocal;
    s->where_ = sock;
    return s;
  }
  std::string file = Home() + "/.config/muster/token";
  if (access(file.c_str(), F_OK) == 0) {
    s->kind_ = Kind::kFile;
    s->where_ = file;
  }
  return s;
}

std::shared_ptr<TokenSource> TokenSource::Fixed(std::string token) {
  auto s = std::make_shared<TokenSource>();
  s->kind_ = Kind::kFixed;
  s->token_ = std::move(token);
  s->where_ = "a given token";
  return s;
}

std::shared_ptr<TokenSource> TokenSource::Local(std::string socket_path) {
  auto s = std::make_shared<TokenSource>();
  s->kind_ = Kind::kLocal;
  s->where_ = std::move(socket_path);
  return s;
}

Result<std::string> TokenSource::Token() {
  std::lock_guard lock(mu_);
  switch (kind_) {
    case Kind::kNone:
      return std::string();
    case Kind::kFixed:
      return token_;
    case Kind::kFile: {
      if (fetched_) return token_;
      auto t = ReadTokenFile(where_);
      if (!t.ok()) return t.status();
      token_ = *t;
      fetched_ = true;
      return token_;
    }
    case Kind::kLocal: {
      if (fetched_) return token_;
      auto s = RequestLocalSession(where_);
      if (!s.ok()) return s.status();
      token_ = s->token;
      name_ = s->name;
      role_ = s->role;
      fetched_ = true;
      return token_;
    }
  }
  return std::string();
}

bool TokenSource::Refresh() {
  std::lock_guard lock(mu_);
  if (kind_ != Kind::kLocal) return false;
  fetched_ = false;
  return true;
}

std::string TokenSource::Describe() {
  std::lock_guard lock(mu_);
  switch (kind_) {
    case Kind::kNone: return "none";
    case Kind::kFixed: return where_;
    case Kind::kFile: return "token file " + where_;
    case Kind::kLocal:
      return "local session" + (name_.empty() ? "" : " (" + name_ + ", " + role_ + ")") +
             " via " + where_;
  }
  return "none";
}

}  // namespace muster::cluster
