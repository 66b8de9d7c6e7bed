#include "cluster/coordinator/http_server.h"

#include <httplib.h>

#include "cluster/client/coordinator_client.h"
#include "cluster/coordinator/coordinator.h"
#include "cluster/gateway/rest_api.h"

namespace muster::cluster {

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                      const Coordinator* coordinator) {
  const std::string& listen = options.listen;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("--http wants HOST:PORT");
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return Status::InvalidArgument("--http wants HOST:PORT, got '" + listen + "'");
  }
  std::unique_ptr<HttpServer> s(new HttpServer());
  if (!options.cert_file.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(options.cert_file.c_str(),
                                                    options.key_file.c_str());
    if (!tls->is_valid())
      return Status::Internal("cannot serve HTTPS with " + options.cert_file + " and " +
                              options.key_file);
    s->server_ = std::move(tls);
    s->scheme_ = "https";
  } else {
    s->server_ = std::make_unique<httplib::Server>();
    s->scheme_ = "http";
  }
  s->server_->new_task_queue = [] { return new httplib::ThreadPool(gateway::kHttpThreads); };
  s->server_->Get("/metrics", [coordinator](const httplib::Request&, httplib::Response& res) {
    res.set_content(coordinator->MetricsText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  client::ClientOptions co;
  co.address = options.grpc_address;
  co.transport = options.transport;
  gateway::AddRestRoutes(*s->server_, std::make_shared<client::CoordinatorClient>(co));
  int bound = port == 0 ? s->server_->bind_to_any_port(host.c_str())
                        : (s->server_->bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0) return Status::Unavailable("cannot listen on " + listen + " for HTTP");
  s->address_ = host + ":" + std::to_string(bound);
  s->thread_ = std::thread([srv = s->server_.get()] { srv->listen_after_bind(); });
  return s;
}

}  // namespace muster::cluster
