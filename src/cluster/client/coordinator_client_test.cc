#include "cluster/client/coordinator_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <mutex>
#include <set>

#include "cluster/common/convert.h"

namespace muster::client {
namespace {

TEST(CoordinatorClient, ResolvesAddressFromFlagThenEnvThenDefault) {
  unsetenv(kCoordinatorEnv);
  EXPECT_EQ(ResolveCoordinatorAddress(""), "127.0.0.1:7070");
  setenv(kCoordinatorEnv, "10.0.0.1:9000", 1);
  EXPECT_EQ(ResolveCoordinatorAddress(""), "10.0.0.1:9000");
  EXPECT_EQ(ResolveCoordinatorAddress("h:1"), "h:1");
  unsetenv(kCoordinatorEnv);
}

TEST(CoordinatorClient, MapsGrpcCodes) {
  const std::string a = "127.0.0.1:1";
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "failed to connect to all "
                                        "addresses"),
                           a)
                .message(),
            UnreachableMessage(a));
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "x"), a).code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "job 9 not found"), a).message(),
      "job 9 not found");
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad"), a).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FromGrpcStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "too big"), a).code(),
      StatusCode::kFailedPrecondition);
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK, a).ok());
  // gRPC's own RESOURCE_EXHAUSTED (overload) is not muster's "unschedulable now".
  Status busy = FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "x"), a);
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable);
  EXPECT_EQ(busy.message(), "the coordinator at " + a + " is overloaded; retry later");
  // A message over the links' size limit is the request's fault, and says what the limits are.
  Status big = FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                           "Sent message larger than max (70000000 vs. 67108864)"),
                              a);
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.message(),
            "the request or its reply is larger than a link carries (64 MiB up, 256 MiB down)");
}

// What the coordinator sends comes back with the same code and message, whatever gRPC code
// carried it; only an unreachable coordinator gets the client's own message.
TEST(CoordinatorClient, KeepsMusterCodesFromTheCoordinator) {
  const std::string a = "127.0.0.1:1";
  for (Status s : {Status::InvalidArgument("bad spec"), Status::NotFound("job 9 not found"),
                   Status::AlreadyExists("node n1 is connected"), Status::Unschedulable("not now"),
                   Status::Infeasible("needs 9 gpus"), Status::FailedPrecondition("stale"),
                   Status::Unavailable("store down"), Status::Internal("bug")}) {
    Status back = FromGrpcStatus(cluster::ToGrpcStatus(s), a);
    EXPECT_EQ(back.code(), s.code()) << s.ToString();
    EXPECT_EQ(back.message(), s.message()) << s.ToString();
  }
}

// A port that is bound but not listening refuses connections: the call fails fast and the
// message is the single documented line.
TEST(CoordinatorClient, UnreachableCoordinatorFailsFastWithOneLine) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  CoordinatorClient client({.address = address, .deadline = std::chrono::milliseconds(3000)});
  auto start = std::chrono::steady_clock::now();
  auto r = client.GetJob(1);
  auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), UnreachableMessage(address));
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_LT(took, std::chrono::milliseconds(3500));
  auto logs = client.ReadLogs(v1::LogRequest(), [](const v1::LogChunk&) { return true; });
  EXPECT_EQ(logs.code(), StatusCode::kUnavailable);
}

// A coordinator that answers Submit (a job id per new request id, as the real one) and GetJob.
class FakeCoordinator final : public v1::Coordinator::Service {
 public:
  grpc::Status Submit(grpc::ServerContext*, const v1::SubmitRequest* req,
                      v1::SubmitReply* reply) override {
    std::lock_guard lock(mu);
    request_ids.insert(req->spec().request_id());
    reply->set_job_id(static_cast<int64_t>(request_ids.size()));
    return grpc::Status::OK;
  }
  // Takes its time: longer than the client waits for one call.
  grpc::Status ManageUsers(grpc::ServerContext*, const v1::ManageUsersRequest*,
                           v1::ManageUsersReply* reply) override {
    ++user_calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    reply->set_token("mst_made");
    return grpc::Status::OK;
  }
  std::atomic<int> user_calls{0};
  grpc::Status GetJob(grpc::ServerContext*, const v1::JobRef* req, v1::JobInfo* out) override {
    out->set_job_id(req->job_id());
    return grpc::Status::OK;
  }
  std::mutex mu;
  std::set<std::string> request_ids;
};

// `service` served in plaintext on a free loopback port (its HOST:PORT in *address); null when
// it cannot listen.
std::unique_ptr<grpc::Server> ServeOnLoopback(grpc::Service& service, std::string* address) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) return nullptr;
  *address = "127.0.0.1:" + std::to_string(port);
  return server;
}

// A bound port that does not listen: connections to it are refused.
struct DeadPort {
  DeadPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  ~DeadPort() { close(fd); }
  int fd;
  std::string address;
};

TEST(CoordinatorClient, AListGoesToTheAddressThatAnswersAndSubmitsCarryARequestId) {
  FakeCoordinator service;
  std::string live;
  auto server = ServeOnLoopback(service, &live);
  ASSERT_TRUE(server);
  DeadPort dead;
  ClientOptions o{.address = dead.address + "," + live, .deadline = std::chrono::seconds(5)};
  o.transport.insecure = true;
  CoordinatorClient client(o);
  auto job = client.GetJob(7);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(job->job_id(), 7);
  EXPECT_EQ(client.current_address(), live);
  // Every submission gets a request id of its own (a retry of one keeps it).
  ASSERT_TRUE(client.Submit(v1::JobSpec()).ok());
  ASSERT_TRUE(client.Submit(v1::JobSpec()).ok());
  v1::JobSpec named;
  named.set_request_id("mine");
  ASSERT_TRUE(client.Submit(named).ok());
  std::lock_guard lock(service.mu);
  ASSERT_EQ(service.request_ids.size(), 3u);
  EXPECT_TRUE(service.request_ids.count("mine"));
  for (const auto& id : service.request_ids)
    if (id != "mine") EXPECT_EQ(id.size(), 32u) << id;
  server->Shutdown();
}

TEST(CoordinatorClient, ACallThatMakesACredentialIsNotSentAgainAfterItsCoordinatorWentSilent) {
  FakeCoordinator service;
  std::string live;
  auto server = ServeOnLoopback(service, &live);
  ASSERT_TRUE(server);
  DeadPort dead;
  // Each call of a list waits half a deadline (1 s): the coordinator takes 1.5 s.
  ClientOptions o{.address = live + "," + dead.address, .deadline = std::chrono::seconds(2)};
  o.transport.insecure = true;
  CoordinatorClient client(o);
  v1::ManageUsersRequest add;
  add.set_op("add");
  add.set_name("ann");
  auto r = client.ManageUsers(add);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "the coordinator at " + live +
                                      " went away during the call: it may or may not have been "
                                      "done; check before you try again");
  EXPECT_EQ(service.user_calls.load(), 1) << "the token-making call was sent again";
  server->Shutdown();
}

TEST(CoordinatorClient, AListOfWhichNoneAnswersFailsWithOneLineAtTheDeadline) {
  DeadPort a, b;
  const std::string list = a.address + "," + b.address;
  ClientOptions o{.address = list, .deadline = std::chrono::milliseconds(1500)};
  o.transport.insecure = true;
  CoordinatorClient client(o);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.GetJob(1);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), UnreachableMessage(list));
  EXPECT_NE(r.status().message().find("any of " + list), std::string::npos);
  // It kept trying for two deadlines: a failover takes a moment.
  EXPECT_GE(took, std::chrono::milliseconds(2900));
  EXPECT_LT(took, std::chrono::milliseconds(6000));
  // A malformed list is one line, before anything is sent.
  CoordinatorClient bad({.address = a.address + ",nonsense"});
  EXPECT_EQ(bad.GetJob(1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muster::client
