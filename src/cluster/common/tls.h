// TLS on every gRPC link: where the cluster's certificates live, and the gRPC credentials built
// from them (grpc::SslServerCredentials / grpc::SslCredentials; OpenSSL underneath).
//
// The coordinator keeps, in <state_dir>/tls/ (0711; keys 0600, certificates 0644):
//   ca.key, ca.crt          the cluster CA, made on first start (valid 1 year)
//   server.key, server.crt  the coordinator's certificate, signed by the CA (valid 90 days), with
//                           subjectAltNames for loopback, this host's name and addresses, the
//                           listen host and any --tls-san; renewed (same key) when it is due
//                           to expire within 30 days or lacks a name it needs. server.crt is
//                           the chain: the server's certificate, then the CA's.
//   The CA certificate is renewed (same key and name) 90 days before it expires.
// Clients (the CLI, agents) verify the coordinator against the CA certificate: $MUSTER_CA_CERT,
// else the state dir's tls/ca.crt (a coordinator on this machine; also <dir>/coordinator/tls for
// a `muster up` state dir), else ~/.config/muster/ca.crt. Plaintext only with an explicit
// insecure flag on both sides.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/common/mutex.h"
#include "cluster/common/pki.h"
#include "core/status.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace muster::cluster {

inline constexpr const char* kCaCertEnv = "MUSTER_CA_CERT";
inline constexpr const char* kInsecureEnv = "MUSTER_INSECURE";

struct ServerTls {
  KeyAndCert ca;      // the CA's key stays in the coordinator
  KeyAndCert server;  // the coordinator's own; cert_pem is the chain (its certificate, the CA's)
  std::string ca_fingerprint;  // hex SHA-256 of ca.crt
  std::vector<std::string> renewed;  // what this call renewed, for the log
};

struct TlsLifetimes {
  int ca_days = 365;
  int server_days = 90;
  // The CA is renewed earlier than a node certificate lives (90 days), so that every node,
  // renewing its own certificate, has fetched the new CA certificate before the old one expires.
  int64_t ca_renew_before_ms = 90LL * 86400 * 1000;
  int64_t server_renew_before_ms = 30LL * 86400 * 1000;
};

// Makes, loads or renews the coordinator's TLS material in <state_dir>/tls, for these extra
// subjectAltNames ("IP:10.0.0.1", "DNS:coord"); loopback, the host name and the host's addresses
// are always included. Renewing keeps the keys: a renewed CA certificate has the CA's key and
// name (so certificates it signed before stay valid), and a renewed server certificate the
// server's key. Called at start and then periodically by a running coordinator, whose
// credentials (MakeServerCredentials) pick the new files up without a restart.
Result<ServerTls> EnsureServerTls(const std::string& state_dir,
                                  const std::vector<std::string>& extra_sans,
                                  const TlsLifetimes& lifetimes = {});
// The coordinator's TLS material while it runs: read by the calls that sign certificates and
// hand out the CA, replaced when it is renewed. Thread-safe.
class LiveServerTls {
 public:
  std::shared_ptr<const ServerTls> get() const {
    MutexLock lock(mu_);
    return tls_;
  }
  void set(ServerTls tls) {
    auto fresh = std::make_shared<const ServerTls>(std::move(tls));
    MutexLock lock(mu_);
    tls_ = std::move(fresh);
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const ServerTls> tls_ GUARDED_BY(mu_) = std::make_shared<const ServerTls>();
};

// TLS server credentials from the files of <state_dir>/tls, re-read every refresh_s seconds
// (gRPC's FileWatcherCertificateProvider): the server certificate chain; client certificates
// requested and, when presented, verified against the CA.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const std::string& state_dir,
                                                               unsigned refresh_s = 60);

// How a client reaches the coordinator.
struct ClientTransport {
  bool insecure = false;
  std::string ca_pem;  // the CA the coordinator's certificate must chain to
  std::string where;   // where the CA came from, for messages
  // A client certificate (a joined node's) and its key, presented in the handshake; "" = none.
  std::string key_pem, cert_pem;
};
// As the header comment says. `insecure` (or $MUSTER_INSECURE=1): plaintext. Unavailable when no
// CA certificate is found, with a line that says how to get one.
Result<ClientTransport> ResolveClientTransport(const std::string& state_dir,
                                               const std::string& ca_file = "",
                                               bool insecure = false);
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const ClientTransport& t);

inline constexpr const char* kClientCertEnv = "MUSTER_CLIENT_CERT";
inline constexpr const char* kClientKeyEnv = "MUSTER_CLIENT_KEY";
// A user's client certificate (`muster admin user cert`), for the CLI: $MUSTER_CLIENT_CERT and
// $MUSTER_CLIENT_KEY, else ~/.config/muster/client.crt and client.key when both exist. Ok with
// nothing attached when there is none or the transport is plaintext; an error for a key that
// others may read, or a pair that cannot be read.
Status AttachClientCertificate(ClientTransport* t);

// The files of TLS material (the coordinator's, a joined node's). ReadTlsFile: the whole file,
// NotFound if it cannot be read. WriteTlsFile: atomically (a temporary file created with `mode`,
// fsync, rename), so no other user ever sees a key while it is written, and a crash leaves the
// old file or the new one.
Result<std::string> ReadTlsFile(const std::string& path);
Status WriteTlsFile(const std::string& path, const std::string& text, unsigned mode);

// True for 127.0.0.0/8, ::1 and "localhost" (where plaintext may be allowed).
bool IsLoopbackHost(const std::string& host);

}  // namespace muster::cluster
