// The coordinator process's network face: one gRPC server (sync API) on one port carrying the
// Coordinator service (users) and the AgentLink service (agents), over a Coordinator.
//
// AgentLink: each agent's Connect stream is served by one gRPC thread that reads; an
// AgentSession owns a writer thread and an outbox, so any thread can queue Launch/Kill/
// RegisterReply messages without blocking (AgentChannel). The first message must be Register;
// a refused registration gets RegisterReply{accepted=false, error} and the stream ends with
// ALREADY_EXISTS / INVALID_ARGUMENT.
//
// ReadLogs polls the task's log files every 100 ms in follow mode and ends (eof) once the task
// has finished for good and its file is drained, or when the client goes away.
//
// Every call is identified by its bearer token (identity.h) and checked against the caller's
// role and the job's owner (access.h) before the coordinator acts; the local Unix socket
// (local_auth.h) hands out tokens to processes on this machine.
//
// TLS: the certificates are re-checked every tls_check_ms and renewed when due (tls.h); gRPC
// re-reads the files, so a renewal needs no restart.
//
// Shutdown: stops the scheduling loop, then the gRPC server (open streams are cancelled after a
// short deadline), then flushes the store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/common/tls.h"
#include "cluster/coordinator/coordinator.h"
#include "cluster/coordinator/local_auth.h"
#include "cluster/coordinator/http_server.h"
#include "core/status.h"

namespace grpc {
class Server;
}

namespace muster::cluster {

// Wall clock (milliseconds since the Unix epoch) for the coordinator and agents.
class WallClock final : public Clock {
 public:
  TimeMs NowMs() const override;
  TimeMs MonotonicMs() const override;  // steady_clock: node liveness survives clock steps
};

struct ServerOptions {
  std::string listen = "127.0.0.1:7070";  // HOST:PORT; port 0 picks a free one
  // TLS (tls.h) unless insecure, which is refused on an address that is not loopback.
  bool insecure = false;
  std::vector<std::string> tls_sans;  // extra subjectAltNames of the server certificate
  TlsLifetimes tls_lifetimes;
  // How often the running coordinator renews what is due (EnsureServerTls), and how often gRPC
  // re-reads the files: a renewal is served within the sum, without a restart.
  int64_t tls_check_ms = 3600 * 1000;
  unsigned tls_refresh_s = 60;
  // Submissions per second each identity that is not an admin may make (token bucket), and the
  // burst it may save up; 0 = no limit. A caller over it is told to slow down.
  double submit_rate = 2000;
  double submit_burst = 20000;
  // "" = no HTTP; else HOST:PORT for /metrics and the REST API /api/v1 (http_server.h), HTTPS
  // unless insecure; its URL (https://HOST:PORT) is written to coordinator.http.
  std::string http;
  CoordinatorOptions coordinator;
};

class CoordinatorServer {
 public:
  // Opens the state, binds the port, starts serving and the scheduling loop; writes the bound
  // address to <state_dir>/coordinator.addr atomically.
  static Result<std::unique_ptr<CoordinatorServer>> Start(ServerOptions options);
  ~CoordinatorServer();

  // "HOST:PORT" actually bound.
  const std::string& address() const { return address_; }
  // The cluster CA's certificate and its SHA-256 fingerprint ("" when insecure).
  std::string ca_pem() const { return tls_.get()->ca.cert_pem; }
  std::string ca_fingerprint() const { return tls_.get()->ca_fingerprint; }
  // "HOST:PORT" of the /metrics endpoint, "" when off.
  std::string http_address() const { return http_ ? http_->address() : ""; }
  // "https://HOST:PORT", "http://HOST:PORT" (--insecure), "" when off.
  std::string http_url() const { return http_ ? http_->scheme() + "://" + http_->address() : ""; }
  Coordinator& coordinator() { return *coordinator_; }
  // The names the coordinator's certificate carries beyond its host's: --tls-san and the listen
  // host (a standby's certificate carries the same, standby_server.h).
  static std::vector<std::string> ServedNames(const ServerOptions& options);
  // Stops serving (idempotent). Thread-safe, but not from inside a gRPC handler.
  void Shutdown();
  // A leader stepping down: closes the gRPC listener and cancels every call and agent link now,
  // before anything else stops, so that nothing more reaches a node or a client from here; then
  // Shutdown() stops the rest. (Returns once the handlers have returned.)
  void StopServingNow();
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  CoordinatorServer() = default;
  class Services;

  WallClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<LocalAuthListener> local_auth_;
  std::string local_grpc_;  // the gRPC Unix socket's path; "" = none (credentials.h)
  // Renews the TLS material every tls_check_ms until Shutdown.
  void RenewTlsLoop(std::string state_dir, std::vector<std::string> sans, TlsLifetimes lifetimes,
                    int64_t period_ms);

  std::string address_;
  LiveServerTls tls_;
  std::thread tls_renewer_;
  Mutex renew_mu_;
  std::condition_variable_any renew_cv_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace muster::cluster
