#include "cluster/coordinator/http_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <spdlog/spdlog.h>

#include "cluster/client/coordinator_client.h"
#include "cluster/common/gateway_delegation.h"
#include "cluster/coordinator/coordinator.h"
#include "cluster/gateway/rest_api.h"

namespace muster::cluster {

// What each handshake is served, parsed from the live TLS material and parsed again when that
// is renewed (a new ServerTls object).
struct HttpServer::Https {
  template <typename T, void (*F)(T*)>
  struct Free {
    void operator()(T* p) const { F(p); }
  };
  static void FreeCerts(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
  static void FreeNames(STACK_OF(X509_NAME) * s) { sk_X509_NAME_pop_free(s, X509_NAME_free); }
  struct Material {
    std::shared_ptr<const ServerTls> source;
    std::unique_ptr<X509, Free<X509, X509_free>> leaf;
    std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>> key;
    // The rest of the chain (the CA's certificate), and the store client certificates are
    // verified against (the CA).
    std::unique_ptr<STACK_OF(X509), Free<STACK_OF(X509), FreeCerts>> chain;
    std::unique_ptr<X509_STORE, Free<X509_STORE, X509_STORE_free>> ca_store;
    std::unique_ptr<STACK_OF(X509_NAME), Free<STACK_OF(X509_NAME), FreeNames>> ca_names;
  };

  const LiveServerTls* live;
  Mutex mu;
  std::shared_ptr<const Material> current GUARDED_BY(mu);

  // The material for the coordinator's current certificates, or null when they do not parse.
  std::shared_ptr<const Material> Get() {
    auto tls = live->get();
    {
      MutexLock lock(mu);
      if (current && current->source == tls) return current;
    }
    auto fresh = Parse(tls);
    if (!fresh) return nullptr;
    MutexLock lock(mu);
    current = fresh;
    return fresh;
  }

  static std::shared_ptr<const Material> Parse(std::shared_ptr<const ServerTls> tls) {
    auto m = std::make_shared<Material>();
    m->source = tls;
    const std::string& chain = tls->server.cert_pem;
    BIO* bio = BIO_new_mem_buf(chain.data(), static_cast<int>(chain.size()));
    m->leaf.reset(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    m->chain.reset(sk_X509_new_null());
    while (X509* more = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
      sk_X509_push(m->chain.get(), more);
    BIO_free(bio);
    bio = BIO_new_mem_buf(tls->server.key_pem.data(), static_cast<int>(tls->server.key_pem.size()));
    m->key.reset(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    bio = BIO_new_mem_buf(tls->ca.cert_pem.data(), static_cast<int>(tls->ca.cert_pem.size()));
    std::unique_ptr<X509, Free<X509, X509_free>> ca(
        PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    ERR_clear_error();  // the chain's reader ends on "no start line"
    if (!m->leaf || !m->key || !ca) return nullptr;
    m->ca_store.reset(X509_STORE_new());
    m->ca_names.reset(sk_X509_NAME_new_null());
    if (!m->ca_store || !m->ca_names || X509_STORE_add_cert(m->ca_store.get(), ca.get()) != 1)
      return nullptr;
    sk_X509_NAME_push(m->ca_names.get(), X509_NAME_dup(X509_get_subject_name(ca.get())));
    return m;
  }

  // SSL_CTX_set_cert_cb: installs the current certificate, key, chain and client CA on `ssl`.
  static int OnHandshake(SSL* ssl, void* arg) {
    auto m = static_cast<Https*>(arg)->Get();
    if (!m) {
      spdlog::error("HTTPS: cannot read the coordinator's certificate or key");
      return 0;
    }
    if (SSL_use_cert_and_key(ssl, m->leaf.get(), m->key.get(), m->chain.get(), 1) != 1 ||
        SSL_set1_verify_cert_store(ssl, m->ca_store.get()) != 1)
      return 0;
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(m->ca_names.get()));
    return 1;
  }
};

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
  if (options.tls != nullptr) {
    s->https_ = std::make_unique<Https>();
    s->https_->live = options.tls;
    if (!s->https_->Get())
      return Status::Internal("cannot serve HTTPS: the coordinator's certificate or key does not "
                              "parse");
    Https* https = s->https_.get();
    auto tls = std::make_unique<httplib::SSLServer>([https](SSL_CTX& ctx) {
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
      SSL_CTX_set_cert_cb(&ctx, &Https::OnHandshake, https);
      // A client certificate is asked for, not required; one that is presented must verify.
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
      // Resumed sessions (browsers resume on each new connection) keep the verified peer; with
      // peer verification on, OpenSSL refuses to resume without a session id context.
      static constexpr unsigned char kSessionContext[] = "muster-https";
      SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
      return true;
    });
    if (!tls->is_valid()) return Status::Internal("cannot set up HTTPS");
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
  co.metadata = {{gateway_delegation::kGatewayKey, options.gateway_key}};
  gateway::AddRestRoutes(*s->server_, std::make_shared<client::CoordinatorClient>(co));
  int bound = port == 0 ? s->server_->bind_to_any_port(host.c_str())
                        : (s->server_->bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0) return Status::Unavailable("cannot listen on " + listen + " for HTTP");
  s->address_ = host + ":" + std::to_string(bound);
  s->thread_ = std::thread([srv = s->server_.get()] { srv->listen_after_bind(); });
  return s;
}

}  // namespace muster::cluster
