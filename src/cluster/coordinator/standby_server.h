// StandbyServer: what a standby coordinator (cli/cmd_coordinator.cc, store/leadership.h) serves
// on its port while another leads: every call, whatever its method, is answered at once with
// UNAVAILABLE "muster standby: ... leads at ADDRESS". A client or agent given every
// coordinator's address moves on to the next (as from one that does not listen); one given only
// this address is told where the leader is (client/coordinator_client.h). Over TLS with the
// state dir's certificates, as the coordinator itself (unless insecure, on loopback only).
//
// Thread-safety: SetLeader may be called from any thread while gRPC threads answer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/common/coordinator_list.h"  // kStandbyPrefix
#include "cluster/common/mutex.h"
#include "core/status.h"

namespace grpc {
class Server;
}

namespace muster::cluster {

class StandbyServer {
 public:
  // Listens on `listen` (the coordinator's own --listen).
  static Result<std::unique_ptr<StandbyServer>> Start(const std::string& listen,
                                                      const std::string& state_dir,
                                                      bool insecure,
                                                      const std::vector<std::string>& tls_sans);
  ~StandbyServer();  // stops listening (calls are answered at once, so none is waited for)
  StandbyServer(const StandbyServer&) = delete;
  StandbyServer& operator=(const StandbyServer&) = delete;

  // Who leads, for the answers: "HOLDER (term N) at ADDRESS", or "" when unknown.
  void SetLeader(std::string leader) EXCLUDES(mu_);

 private:
  class Service;
  StandbyServer() = default;
  std::string Answer() EXCLUDES(mu_);

  Mutex mu_;
  std::string leader_ GUARDED_BY(mu_);
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace muster::cluster
