#include "cluster/coordinator/standby_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "cluster/common/tls.h"

namespace muster::cluster {

class StandbyServer::Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(StandbyServer* owner) : owner_(owner) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Refusal final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(std::string message) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::move(message)));
      }
      void OnDone() override { delete this; }
    };
    return new Refusal(owner_->Answer());
  }

 private:
  StandbyServer* owner_;
};

Result<std::unique_ptr<StandbyServer>> StandbyServer::Start(
    const std::string& listen, const std::string& state_dir, bool insecure,
    const std::vector<std::string>& tls_sans) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (insecure) {
    if (!IsLoopbackHost(listen.substr(0, listen.rfind(':'))))
      return Status::InvalidArgument("--insecure is refused on " + listen +
                                     ": plaintext only on a loopback address");
    creds = grpc::InsecureServerCredentials();
  } else {
    // The standby's own certificate, from the shared CA (made now on a first start).
    if (auto tls = EnsureServerTls(state_dir, tls_sans, TlsLifetimes{}); !tls.ok())
      return tls.status();
    creds = MakeServerCredentials(state_dir);
  }
  std::unique_ptr<StandbyServer> s(new StandbyServer());
  s->service_ = std::make_unique<Service>(s.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, creds, &port);
  builder.RegisterCallbackGenericService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || port == 0)
    return Status::Unavailable("cannot listen on " + listen + " (in use?)");
  return s;
}

StandbyServer::~StandbyServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

void StandbyServer::SetLeader(std::string leader) {
  MutexLock lock(mu_);
  leader_ = std::move(leader);
}

std::string StandbyServer::Answer() {
  MutexLock lock(mu_);
  return std::string(kStandbyPrefix) + "this coordinator stands by; " +
         (leader_.empty() ? std::string("no leader is known yet") : leader_ + " leads");
}

}  // namespace muster::cluster
