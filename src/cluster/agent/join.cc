// See join.h.
#include "cluster/agent/join.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "cluster/common/convert.h"
#include "cluster/common/pki.h"
#include "cluster/common/wall_time.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::agent {

namespace {

bool IsHex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

Result<JoinToken> ParseJoinToken(const std::string& text) {
  const auto dot = text.find('.');
  JoinToken t;
  if (dot != std::string::npos) {
    t.secret = text.substr(0, dot);
    t.ca_fingerprint = text.substr(dot + 1);
  }
  if (dot == std::string::npos || t.secret.rfind("mstj_", 0) != 0 ||
      !IsHex(t.secret.substr(5), 64) || !IsHex(t.ca_fingerprint, 64))
    return Status::InvalidArgument(
        "malformed join token (it looks like mstj_<64 hex>.<64 hex>; make one with `muster "
        "admin join-token`)");
  return t;
}

Result<std::string> FetchPinnedCa(const std::string& address, const std::string& fingerprint) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("address needs HOST:PORT");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return Status::Unavailable("cannot resolve " + address);
  int fd = -1;
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return Status::Unavailable("cannot reach the coordinator at " + address);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  // Nothing is trusted here: the fingerprint from the token is the only check.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
  std::string found;
  Status status = Status::Unavailable("TLS handshake with " + address + " failed");
  if (ssl) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      status = Status::PermissionDenied(
          "permission denied: the server at " + address +
          " presents no certificate with the join token's CA fingerprint (a wrong address, a "
          "token of another cluster, or someone else answering)");
      STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
      for (int i = 0; chain && i < sk_X509_num(chain) && found.empty(); ++i) {
        std::string pem;
        BIO* b = BIO_new(BIO_s_mem());
        if (b && PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1) {
          char* data = nullptr;
          long len = BIO_get_mem_data(b, &data);
          pem.assign(data, static_cast<size_t>(len));
        }
        BIO_free(b);
        if (auto fp = cluster::CertFingerprint(pem); fp.ok() && *fp == fingerprint) found = pem;
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  SSL_CTX_free(ctx);
  ERR_clear_error();
  close(fd);
  if (found.empty()) return status;
  return found;
}

Result<cluster::ClientTransport> JoinCluster(const std::string& address, const std::string& node,
                                             const std::string& token,
                                             const std::string& work_dir) {
  auto t = ParseJoinToken(token);
  if (!t.ok()) return t.status();
  auto ca = FetchPinnedCa(address, t->ca_fingerprint);
  if (!ca.ok()) return ca.status();
  auto csr = cluster::MakeCsr(node);
  if (!csr.ok()) return csr.status();
  cluster::ClientTransport pinned{.ca_pem = *ca, .where = "the join token's CA"};
  auto channel = grpc::CreateChannel(address, cluster::MakeChannelCredentials(pinned));
  auto stub = v1::Coordinator::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  v1::JoinRequest req;
  req.set_token(token);
  req.set_node(node);
  req.set_csr_pem(csr->cert_pem);
  v1::JoinReply reply;
  grpc::Status st = stub->Join(&ctx, req, &reply);
  if (!st.ok()) {
    Status s = cluster::FromGrpcStatus(st);
    return Status(s.code(), "joining as " + node + ": " + s.message());
  }
  const std::string dir = work_dir + "/tls";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  for (auto [name, text, mode] :
       {std::tuple{"ca.crt", *ca, 0644}, std::tuple{"node.key", csr->key_pem, 0600},
        std::tuple{"node.crt", reply.cert_pem(), 0644}})
    if (Status w = cluster::WriteTlsFile(dir + "/" + name, text, static_cast<unsigned>(mode)); !w.ok())
      return w;
  return cluster::ClientTransport{.ca_pem = *ca,
                                  .where = dir + "/ca.crt",
                                  .key_pem = csr->key_pem,
                                  .cert_pem = reply.cert_pem()};
}

Result<cluster::ClientTransport> RenewIfDue(const std::string& address,
                                            const cluster::ClientTransport& t,
                                            const std::string& work_dir, int64_t renew_before_ms) {
  if (t.cert_pem.empty()) return t;
  auto info = cluster::ReadCert(t.cert_pem);
  if (!info.ok()) return info.status();
  const int64_t now = cluster::WallMs();
  // Due when this node's certificate is, or when the CA certificate it trusts is (the
  // coordinator renews the CA's well before: the reply brings the new one).
  auto ca = cluster::ReadCert(t.ca_pem);
  const bool ca_due = ca.ok() && ca->not_after_ms - now <= renew_before_ms;
  if (info->not_after_ms - now > renew_before_ms && !ca_due) return t;
  auto csr = cluster::MakeCsr(info->common_name);
  if (!csr.ok()) return csr.status();
  auto channel = grpc::CreateChannel(address, cluster::MakeChannelCredentials(t));
  auto stub = v1::Coordinator::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  v1::RenewRequest req;
  req.set_csr_pem(csr->cert_pem);
  v1::JoinReply reply;
  grpc::Status st = stub->RenewNodeCert(&ctx, req, &reply);
  if (!st.ok()) return cluster::FromGrpcStatus(st);
  const std::string dir = work_dir + "/tls";
  // The key first: a crash between the two leaves the old pair unusable, never a mismatch that
  // looks valid (the next start then needs a new join token).
  if (Status w = cluster::WriteTlsFile(dir + "/node.key", csr->key_pem, 0600); !w.ok()) return w;
  if (Status w = cluster::WriteTlsFile(dir + "/node.crt", reply.cert_pem(), 0644); !w.ok()) return w;
  cluster::ClientTransport renewed = t;
  // A renewed CA certificate (same key): trusted from now on.
  if (!reply.ca_pem().empty() && reply.ca_pem() != t.ca_pem) {
    if (Status w = cluster::WriteTlsFile(dir + "/ca.crt", reply.ca_pem(), 0644); !w.ok()) return w;
    renewed.ca_pem = reply.ca_pem();
  }
  renewed.key_pem = csr->key_pem;
  renewed.cert_pem = reply.cert_pem();
  return renewed;
}

Result<cluster::ClientTransport> LoadNodeCredentials(const std::string& work_dir) {
  const std::string dir = work_dir + "/tls";
  auto ca = cluster::ReadTlsFile(dir + "/ca.crt");
  auto key = cluster::ReadTlsFile(dir + "/node.key");
  auto cert = cluster::ReadTlsFile(dir + "/node.crt");
  if (!ca.ok() || !key.ok() || !cert.ok()) return Status::NotFound("no node certificate in " + dir);
  return cluster::ClientTransport{
      .ca_pem = *ca, .where = dir + "/ca.crt", .key_pem = *key, .cert_pem = *cert};
}

}  // namespace muster::agent
