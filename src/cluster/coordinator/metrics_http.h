// The coordinator's optional HTTP endpoint (cpp-httplib): GET /metrics serves
// Coordinator::MetricsText() in the Prometheus text format (version 0.0.4); GET / says where
// the metrics are. One listener thread owned by this object; off unless --http is given.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
}

namespace muster::cluster {

class Coordinator;

class MetricsHttpServer {
 public:
  // Binds HOST:PORT (port 0 picks a free one) and starts serving `coordinator`, which must
  // outlive this object. Errors when the address cannot be bound.
  static Result<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                          const Coordinator* coordinator);
  ~MetricsHttpServer();  // stops serving
  // "HOST:PORT" actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer();
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace muster::cluster
