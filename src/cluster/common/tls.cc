// See tls.h.
#include "cluster/common/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/common/credentials.h"
#include "cluster/common/wall_time.h"

namespace muster::cluster {

namespace {

std::vector<std::string> HostSans() {
  std::vector<std::string> sans = {"IP:127.0.0.1", "DNS:localhost"};
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0]) sans.push_back(std::string("DNS:") + host);
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
      char buf[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
      const std::string san = std::string("IP:") + buf;
      if (std::find(sans.begin(), sans.end(), san) == sans.end()) sans.push_back(san);
    }
    freeifaddrs(ifs);
  }
  return sans;
}

}  // namespace

Result<std::string> ReadTlsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status WriteTlsFile(const std::string& path, const std::string& text, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) {
      ::close(fd);
      return Status::Unavailable("cannot write " + tmp);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::Unavailable("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::Unavailable("cannot rename " + tmp);
  return Status::Ok();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

Result<ServerTls> EnsureServerTls(const std::string& state_dir,
                                  const std::vector<std::string>& extra_sans,
                                  const TlsLifetimes& life) {
  const std::string dir = state_dir + "/tls";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0711);  // ca.crt is for everyone; the keys are 0600
  const int64_t now = WallMs();
  ServerTls tls;
  auto ca_key = ReadTlsFile(dir + "/ca.key");
  auto ca_cert = ReadTlsFile(dir + "/ca.crt");
  bool new_ca = false;      // a server certificate of an earlier CA must not be served with it
  bool renewed_ca = false;  // the same key: the server certificate only needs the new chain
  if (ca_key.ok() && ca_cert.ok()) {
    tls.ca = {*ca_key, *ca_cert};
    auto info = ReadCert(*ca_cert);
    if (!info.ok()) return Status::Internal(dir + "/ca.crt: " + info.status().message());
    if (info->not_after_ms - now <= life.ca_renew_before_ms) {
      auto renewed = RenewCa(tls.ca, life.ca_days);
      if (!renewed.ok()) return renewed.status();
      tls.ca = *renewed;
      if (Status s = WriteTlsFile(dir + "/ca.crt", renewed->cert_pem, 0644); !s.ok()) return s;
      renewed_ca = true;
      tls.renewed.push_back("the cluster CA certificate (same key)");
    }
  } else {
    new_ca = true;
    auto ca = MakeCa("muster cluster CA", life.ca_days);
    if (!ca.ok()) return ca.status();
    tls.ca = *ca;
    if (Status s = WriteTlsFile(dir + "/ca.key", ca->key_pem, 0600); !s.ok()) return s;
    if (Status s = WriteTlsFile(dir + "/ca.crt", ca->cert_pem, 0644); !s.ok()) return s;
  }
  auto fp = CertFingerprint(tls.ca.cert_pem);
  if (!fp.ok()) return Status::Internal(dir + "/ca.crt: " + fp.status().message());
  tls.ca_fingerprint = *fp;

  std::vector<std::string> sans = HostSans();
  for (const auto& s : extra_sans)
    if (std::find(sans.begin(), sans.end(), s) == sans.end()) sans.push_back(s);
  auto key = ReadTlsFile(dir + "/server.key");
  auto cert = ReadTlsFile(dir + "/server.crt");
  // server.crt holds the chain: the server's certificate, then the CA's (joining nodes find the
  // CA there to check it against their token).
  bool fresh = !new_ca && !renewed_ca && key.ok() && cert.ok() &&
               cert->find(tls.ca.cert_pem) != std::string::npos;
  if (fresh) {
    auto info = ReadCert(*cert);
    fresh = info.ok() && info->not_after_ms - now > life.server_renew_before_ms;
    for (const auto& s : sans)
      if (fresh && std::find(info->sans.begin(), info->sans.end(), s) == info->sans.end())
        fresh = false;
  }
  if (fresh) {
    tls.server = {*key, *cert};
    return tls;
  }
  // A new key only with a new CA or when there is none: a renewal keeps the key, so that a
  // server reading key and certificate while they change never pairs a key with a wrong one.
  const bool keep_key = !new_ca && key.ok() && !key->empty();
  auto issued = IssueCert(tls.ca, "muster coordinator", life.server_days, sans, /*server=*/true,
                          keep_key ? *key : "");
  if (!issued.ok()) return issued.status();
  tls.server = {issued->key_pem, issued->cert_pem + tls.ca.cert_pem};
  if (!keep_key)
    if (Status s = WriteTlsFile(dir + "/server.key", issued->key_pem, 0600); !s.ok()) return s;
  if (Status s = WriteTlsFile(dir + "/server.crt", tls.server.cert_pem, 0644); !s.ok()) return s;
  if (key.ok() && cert.ok()) tls.renewed.push_back("the coordinator's certificate");
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const std::string& state_dir,
                                                               unsigned refresh_s) {
  const std::string dir = state_dir + "/tls";
  auto files = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      dir + "/server.key", dir + "/server.crt", dir + "/ca.crt", refresh_s);
  grpc::experimental::TlsServerCredentialsOptions o(files);
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  return grpc::experimental::TlsServerCredentials(o);
}

Result<ClientTransport> ResolveClientTransport(const std::string& state_dir,
                                               const std::string& ca_file, bool insecure) {
  ClientTransport t;
  const char* env_insecure = std::getenv(kInsecureEnv);
  if (insecure || (env_insecure && std::string(env_insecure) == "1")) {
    t.insecure = true;
    t.where = "plaintext (insecure)";
    return t;
  }
  std::vector<std::string> candidates;
  if (!ca_file.empty()) {
    candidates = {ca_file};
  } else if (const char* e = std::getenv(kCaCertEnv); e && *e) {
    candidates = {e};
  } else {
    const std::string dir = state_dir.empty() ? DefaultStateDir() : state_dir;
    const char* home = std::getenv("HOME");
    candidates = {dir + "/tls/ca.crt", dir + "/coordinator/tls/ca.crt",
                  std::string(home && *home ? home : ".") + "/.config/muster/ca.crt"};
  }
  for (const auto& c : candidates) {
    auto pem = ReadTlsFile(c);
    if (pem.ok() && !pem->empty()) {
      t.ca_pem = *pem;
      t.where = c;
      return t;
    }
    struct stat st {};
    if (ca_file.empty() && stat(c.c_str(), &st) != 0 && errno == EACCES)
      return Status::PermissionDenied(
          "permission denied: " + c.substr(0, c.rfind("/tls/")) +
          " is another user's private state dir (its owner can start the cluster with "
          "--allow-local-users)");
  }
  return Status::Unavailable(
      "no CA certificate to check the coordinator with (looked in " + candidates[0] +
      (candidates.size() > 1 ? " and " + std::to_string(candidates.size() - 1) + " more" : "") +
      "): on its machine set MUSTER_STATE_DIR; elsewhere copy its tls/ca.crt to "
      "~/.config/muster/ca.crt or set MUSTER_CA_CERT");
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTransport& t) {
  if (t.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = t.ca_pem;
  o.pem_private_key = t.key_pem;
  o.pem_cert_chain = t.cert_pem;
  return grpc::SslCredentials(o);
}

Status AttachClientCertificate(ClientTransport* t) {
  if (t->insecure) return Status::Ok();
  std::string cert, key;
  const char* ec = std::getenv(kClientCertEnv);
  const char* ek = std::getenv(kClientKeyEnv);
  if ((ec && *ec) || (ek && *ek)) {
    if (!(ec && *ec) || !(ek && *ek))
      return Status::InvalidArgument(std::string("set both ") + kClientCertEnv + " and " +
                                     kClientKeyEnv + ", or neither");
    cert = ec;
    key = ek;
  } else {
    const char* home = std::getenv("HOME");
    const std::string dir = std::string(home && *home ? home : ".") + "/.config/muster/";
    struct stat st {};
    if (stat((dir + "client.crt").c_str(), &st) != 0 || stat((dir + "client.key").c_str(), &st) != 0)
      return Status::Ok();
    cert = dir + "client.crt";
    key = dir + "client.key";
  }
  struct stat st {};
  if (stat(key.c_str(), &st) != 0)
    return Status::NotFound("cannot read client key " + key + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return Status::PermissionDenied("client key " + key + " may be read by others; chmod 600 it");
  auto key_pem = ReadTlsFile(key);
  if (!key_pem.ok()) return key_pem.status();
  auto cert_pem = ReadTlsFile(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  t->key_pem = *key_pem;
  t->cert_pem = *cert_pem;
  return Status::Ok();
}

}  // namespace muster::cluster
