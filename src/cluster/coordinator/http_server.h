// The coordinator's optional HTTP listener (cpp-httplib; --http HOST:PORT): GET /metrics serves
// Coordinator::MetricsText() in the Prometheus text format (version 0.0.4), /api/v1 the REST
// API and at / the dashboard over it (cluster/gateway/rest_api.h). HTTPS with the coordinator's own
// certificate (the cluster CA's chain) unless the coordinator runs --insecure, which, as for
// gRPC, is refused on an address that is not loopback. One listener thread and httplib's worker
// pool, owned by this object; off unless --http is given.
//
// HTTPS (TLS 1.2 or later): each handshake is served the coordinator's current certificate, so a
// renewed one is used at once, without a restart. A client may present a certificate; when it
// does, it must chain to the cluster CA, else the handshake fails. The REST API takes such a
// certificate as the caller's credential when the request has no bearer token.
#pragma once
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
  // HTTPS with the coordinator's live TLS material (its server chain and key; the CA that client
  // certificates must chain to); null = plaintext. Must outlive the server.
  const LiveServerTls* tls = nullptr;
  // The coordinator's own gRPC address and how to reach it, for /api/v1, and the key its calls
  // carry (gateway_delegation.h).
  std::string grpc_address;
  ClientTransport transport;
  std::string gateway_key;
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
  struct Https;  // the handshake's certificate, key and CA, kept current
  std::unique_ptr<Https> https_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_, scheme_;
};

}  // namespace muster::cluster
