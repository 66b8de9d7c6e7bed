// TLS on every gRPC link: where the cluster's certificates live, and the gRPC credentials built
// from them (grpc::SslServerCredentials / grpc::SslCredentials; OpenSSL underneath).
//
// The coordinator keeps, in <state_dir>/tls/ (0711; keys 0600, certificates 0644):
//   ca.key, ca.crt          the cluster CA, made on first start (valid 1 year)
//   server.key, server.crt  the coordinator's certificate, signed by the CA (valid 90 days), with
//                           subjectAltNames for loopback, this host's name and addresses, the
//                           listen host and any --tls-san; made again when it is due to expire
//                           within 30 days or lacks a name it needs.
// Clients (the CLI, agents) verify the coordinator against the CA certificate: $MUSTER_CA_CERT,
// else the state dir's tls/ca.crt (a coordinator on this machine; also <dir>/coordinator/tls for
// a `muster up` state dir), else ~/.config/muster/ca.crt. Plaintext only with an explicit
// insecure flag on both sides.
#pragma once

#include <memory>
#include <string>
#include <vector>

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
  KeyAndCert server;  // the coordinator's own
  std::string ca_fingerprint;  // hex SHA-256 of ca.crt
};

// Makes (or loads, renewing the server certificate when due) the coordinator's TLS material in
// <state_dir>/tls for these extra subjectAltNames ("IP:10.0.0.1", "DNS:coord"); loopback, the
// host name and the host's addresses are always included.
Result<ServerTls> EnsureServerTls(const std::string& state_dir,
                                  const std::vector<std::string>& extra_sans);
// TLS server credentials: the server certificate; client certificates requested and, when
// presented, verified against the CA.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const ServerTls& tls);

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

// The files of TLS material (the coordinator's, a joined node's). ReadTlsFile: the whole file,
// NotFound if it cannot be read. WriteTlsFile: atomically (a temporary file created with `mode`,
// fsync, rename), so no other user ever sees a key while it is written, and a crash leaves the
// old file or the new one.
Result<std::string> ReadTlsFile(const std::string& path);
Status WriteTlsFile(const std::string& path, const std::string& text, unsigned mode);

// True for 127.0.0.0/8, ::1 and "localhost" (where plaintext may be allowed).
bool IsLoopbackHost(const std::string& host);

}  // namespace muster::cluster
