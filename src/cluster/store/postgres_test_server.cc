#include "cluster/store/postgres_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "cluster/store/pq_api.h"

extern char** environ;

namespace muster::cluster {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRoot = "/usr/lib/postgresql";
constexpr const char* kServerUser = "postgres";  // the Unix user, and the bootstrap superuser

bool Executable(const fs::path& p) {
  return ::access(p.c_str(), X_OK) == 0;
}

// "15" -> {15}, "9.6" -> {9, 6}; empty for a name that is not a version.
std::vector<int> VersionOf(const std::string& name) {
  std::vector<int> v;
  std::stringstream in(name);
  std::string part;
  while (std::getline(in, part, '.')) {
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) return {};
    v.push_back(std::stoi(part));
  }
  return v;
}

// A TCP port of 127.0.0.1 that nothing listens on now.
Result<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = Status::Internal(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
    ::close(fd);
    return s;
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string RandomHex(int bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < bytes; ++i) {
    const unsigned b = rd() & 0xff;
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string Tail(const fs::path& p, size_t lines) {
  std::ifstream in(p);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += (out.empty() ? "" : " | ") + all[i];
  return out;
}

std::string Quoted(const std::string& s) {  // a postgresql.conf string
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

Result<std::string> PostgresTestServer::FindBinaries() {
  std::error_code ec;
  std::vector<int> best;
  std::string found;
  for (const auto& e : fs::directory_iterator(kRoot, ec)) {
    const std::vector<int> v = VersionOf(e.path().filename().string());
    const fs::path bin = e.path() / "bin";
    if (v.empty() || !Executable(bin / "initdb") || !Executable(bin / "pg_ctl") ||
        !Executable(bin / "postgres"))
      continue;
    if (found.empty() || v > best) {
      best = v;
      found = bin.string();
    }
  }
  if (found.empty())
    return Status::NotFound(std::string("no PostgreSQL server binaries under ") + kRoot +
                            "/*/bin: install the postgresql package (scripts/install-deps)");
  return found;
}

Result<std::unique_ptr<PostgresTestServer>> PostgresTestServer::Start() {
  auto bin = FindBinaries();
  if (!bin.ok()) return bin.status();
  std::unique_ptr<PostgresTestServer> s(new PostgresTestServer());
  s->bin_ = *bin;
  s->as_root_ = ::geteuid() == 0;
  if (s->as_root_) {
    const passwd* pw = ::getpwnam(kServerUser);
    if (!pw)
      return Status::FailedPrecondition(
          "PostgreSQL refuses to run as root and there is no Unix user postgres to run it as: "
          "install the postgresql package (it makes the user), or run the test unprivileged");
    s->uid_ = pw->pw_uid;
    s->gid_ = pw->pw_gid;
  }
  // As root, in /tmp: the server's user must reach the directory (TMPDIR may be root's own).
  const fs::path base = s->as_root_ ? fs::path("/tmp") : fs::temp_directory_path();
  std::string tmpl = (base / "muster_pg_XXXXXX").string();
  if (!::mkdtemp(tmpl.data()))
    return Status::Internal("cannot make a directory in " + base.string() + ": " +
                            std::strerror(errno));
  s->dir_ = tmpl;  // from here on the destructor removes it
  if (s->as_root_ && ::chown(s->dir_.c_str(), s->uid_, s->gid_) != 0)
    return Status::Internal("cannot give " + s->dir_ +
                            " to the user postgres: " + std::strerror(errno));
  const std::string data = s->dir_ + "/data";
  auto rc =
      s->RunAsServerUser({s->bin_ + "/initdb", "-D", data, "-U", kServerUser, "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"});
  if (!rc.ok()) return rc.status();
  if (*rc != 0) return Status::Internal("initdb failed: " + s->LogTail());
  {
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "\n# PostgresTestServer\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = " << Quoted(s->dir_) << "\n"
         << "max_connections = 40\n"
         << "shared_buffers = 16MB\n";
    if (!conf) return Status::Internal("cannot write " + data + "/postgresql.conf");
  }
  Status started;
  for (int attempt = 0; attempt < 4; ++attempt) {  // another process may take the port first
    auto port = FreePort();
    if (!port.ok()) return port.status();
    s->port_ = *port;
    if ((started = s->StartServer()).ok()) break;
  }
  if (!started.ok()) return started;
  s->password_ = RandomHex(16);
  // Hex only: safe inside the literal (CREATE ROLE takes no parameters).
  if (Status e =
          s->Exec("CREATE ROLE " + s->user_ + " LOGIN PASSWORD '" + s->password_ + "'", "postgres");
      !e.ok())
    return e;
  if (Status e = s->Exec("CREATE DATABASE " + s->database_ + " OWNER " + s->user_, "postgres");
      !e.ok())
    return e;
  s->url_ = "postgres://" + s->user_ + ":" + s->password_ +
            "@127.0.0.1:" + std::to_string(s->port_) + "/" + s->database_;
  return s;
}

PostgresTestServer::~PostgresTestServer() {
  if (running_ && !StopServer("fast").ok()) (void)StopServer("immediate");
  if (postmaster_ > 0 && PidFileNames(postmaster_)) {
    ::kill(postmaster_, SIGKILL);  // the server this object started, still there
    for (int i = 0; i < 100 && ::kill(postmaster_, 0) == 0; ++i) ::usleep(20'000);
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

Status PostgresTestServer::Stop() {
  return StopServer("fast");
}
Status PostgresTestServer::Kill() {
  return StopServer("immediate");
}

Status PostgresTestServer::Restart() {
  if (running_) return Status::FailedPrecondition("the test server is running already");
  return StartServer();
}

Status PostgresTestServer::StartServer() {
  auto rc = RunAsServerUser({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log",
                             "-w", "-t", "30", "-o", "-p " + std::to_string(port_), "start"});
  if (!rc.ok()) return rc.status();
  if (*rc != 0)
    return Status::Unavailable("pg_ctl start on port " + std::to_string(port_) +
                               " failed: " + LogTail());
  running_ = true;
  std::ifstream pid(dir_ + "/data/postmaster.pid");
  long p = 0;
  if (pid >> p) postmaster_ = static_cast<pid_t>(p);
  return Status::Ok();
}

Status PostgresTestServer::StopServer(const char* mode) {
  if (!running_) return Status::Ok();
  auto rc = RunAsServerUser(
      {bin_ + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "30", "-m", mode, "stop"});
  if (!rc.ok()) return rc.status();
  if (*rc != 0)
    return Status::Internal(std::string("pg_ctl stop -m ") + mode + " failed: " + LogTail());
  running_ = false;
  return Status::Ok();
}

bool PostgresTestServer::PidFileNames(pid_t pid) const {
  std::ifstream in(dir_ + "/data/postmaster.pid");
  long p = 0;
  return in >> p && p == pid;
}

std::string PostgresTestServer::LogTail() const {
  std::string out = Tail(fs::path(dir_) / "commands.log", 3);
  const std::string server = Tail(fs::path(dir_) / "server.log", 3);
  if (!server.empty()) out += (out.empty() ? "" : " | ") + server;
  return out.empty() ? "(no log)" : out;
}

Result<int> PostgresTestServer::RunAsServerUser(const std::vector<std::string>& argv) {
  std::vector<std::string> full;
  if (as_root_) {
    if (Executable("/usr/sbin/runuser")) {
      full = {"/usr/sbin/runuser", "-u", kServerUser, "--"};
    } else if (Executable("/usr/bin/setpriv")) {
      full = {"/usr/bin/setpriv", "--reuid=" + std::to_string(uid_),
              "--regid=" + std::to_string(gid_), "--clear-groups", "--"};
    } else {
      return Status::FailedPrecondition(
          "running as root, the test server needs runuser or setpriv (util-linux) to run "
          "PostgreSQL as the user postgres");
    }
  }
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (auto& a : full) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string log = dir_ + "/commands.log";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addchdir_np(&fa, dir_.c_str());  // a cwd the server's user can read
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);         // the server keeps none of ours
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) return Status::Internal("cannot run " + full[0] + ": " + std::strerror(err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return Status::Internal(std::string("waitpid: ") + std::strerror(errno));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

namespace {

void IgnoreNotice(void*, const char*) {}

// A superuser session over the server's Unix socket (trust), or why not.
Result<PGconn*> Superuser(const std::string& dir, int port, const std::string& db) {
  if (Status loaded = LoadPq(); !loaded.ok()) return loaded;
  const std::string p = std::to_string(port);
  const char* keys[] = {"host", "port", "user", "dbname", "connect_timeout", nullptr};
  const char* values[] = {dir.c_str(), p.c_str(), kServerUser, db.c_str(), "10", nullptr};
  PGconn* c = Pq().PQconnectdbParams(keys, values, 0);
  if (Pq().PQstatus(c) != CONNECTION_OK) {
    Status s = Status::Unavailable(std::string("test server: ") + Pq().PQerrorMessage(c));
    Pq().PQfinish(c);
    return s;
  }
  Pq().PQsetNoticeProcessor(c, IgnoreNotice, nullptr);
  return c;
}

}  // namespace

Status PostgresTestServer::Exec(const std::string& sql, const std::string& db) {
  return QueryValue(sql, db).status();
}

Result<std::string> PostgresTestServer::QueryValue(const std::string& sql, const std::string& db) {
  auto c = Superuser(dir_, port_, db.empty() ? database_ : db);
  if (!c.ok()) return c.status();
  PGresult* res = Pq().PQexec(*c, sql.c_str());
  const ExecStatusType st = Pq().PQresultStatus(res);
  Result<std::string> out = Status::Internal("test server: " + std::string(Pq().PQerrorMessage(*c)));
  if (st == PGRES_COMMAND_OK) out = std::string();
  if (st == PGRES_TUPLES_OK)
    out = Pq().PQntuples(res) > 0 && Pq().PQnfields(res) > 0 ? std::string(Pq().PQgetvalue(res, 0, 0)) : "";
  Pq().PQclear(res);
  Pq().PQfinish(*c);
  return out;
}

}  // namespace muster::cluster
