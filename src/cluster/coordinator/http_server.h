// The coordinator's optional HTTP listener (cpp-httplib; --http HOST:PORT): GET /metrics serves
// Coordinator::MetricsText() in the Prometheus text format (version 0.0.4), /api/v1 the REST
// API and at / the dashboard over it (cluster/gateway/rest_api.h). HTTPS with the coordinator's own
// certificate (the cluster CA's chain) unless the coordinator runs --insecure, which, as for
// gRPC, is refused on an address that is not loopback. One listener thread and httplib's worker
// pool, owned by this object; off unless --http is given.
//
// The certificate is read when the listener starts: a renewed certificate is served after the
// next restart (gRPC re-reads its files; httplib does not).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "cluster/common/tls.h"
#include "core/status.h"

namespace httplib {
class Server;
}

namespace muster::cluster {

class Coordinator;

struct HttpOptions {
  std::string listen;  // HOST:PORT; port 0 picks a free one
  // HTTPS with these files (server certificate chain, key); both "" = plaintext.
  std::string cert_file, key_file;
  // The coordinator's own gRPC address and how to reach it, for /api/v1.
  std::string grpc_address;
  ClientTransport transport;
};

class HttpServer {
 public:
  // Binds and starts serving `coordinator`, which must outlive this object. Errors when the
  // address cannot be bound or the certificate cannot be loaded.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpOptions& options,
                                                   const Coordinator* coordinator);
  ~HttpServer();  // stops serving
  // "HOST:PORT" actually bound.
  const std::string& address() const { return address_; }
  // "https" or "http".
  const std::string& scheme() const { return scheme_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_, scheme_;
};

}  // namespace muster::cluster
