#include "cluster/coordinator/metrics_http.h"

#include <httplib.h>

#include "cluster/coordinator/coordinator.h"

namespace muster::cluster {

MetricsHttpServer::MetricsHttpServer() : server_(std::make_unique<httplib::Server>()) {}

MetricsHttpServer::~MetricsHttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, const Coordinator* coordinator) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("--http wants HOST:PORT");
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return Status::InvalidArgument("--http wants HOST:PORT, got '" + listen + "'");
  }
  std::unique_ptr<MetricsHttpServer> s(new MetricsHttpServer());
  s->server_->Get("/metrics", [coordinator](const httplib::Request&, httplib::Response& res) {
    res.set_content(coordinator->MetricsText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s->server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("muster coordinator: metrics at /metrics\n", "text/plain");
  });
  int bound = port == 0 ? s->server_->bind_to_any_port(host.c_str())
                        : (s->server_->bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0) return Status::Unavailable("cannot listen on " + listen + " for HTTP");
  s->address_ = host + ":" + std::to_string(bound);
  s->thread_ = std::thread([srv = s->server_.get()] { srv->listen_after_bind(); });
  return s;
}

}  // namespace muster::cluster
