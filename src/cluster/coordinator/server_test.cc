// In-process end-to-end: the real gRPC server on an ephemeral port, a user client and a fake
// agent speaking AgentLink over a real stream.
#include "cluster/coordinator/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/common/convert.h"
#include "cluster/common/credentials.h"
#include "cluster/common/link_limits.h"
#include "cluster/common/pki.h"
#include "cluster/common/tls.h"
#include "cluster/coordinator/identity.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::cluster {
namespace {

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("muster_server_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::unique_ptr<CoordinatorServer> StartServer(const std::string& dir) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  o.coordinator.schedule_period_ms = 20;
  o.coordinator.auth.owner_uid = ::geteuid();
  auto s = CoordinatorServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

// A TLS channel to the server, checked against its cluster CA.
std::shared_ptr<grpc::Channel> Channel(CoordinatorServer& s) {
  return grpc::CreateChannel(s.address(),
                             MakeChannelCredentials({.insecure = false, .ca_pem = s.ca_pem()}));
}

// A session token for this process's Unix user: the server's owner, so an admin.
std::string AdminToken(CoordinatorServer& s) {
  auto issued = s.coordinator().auth().IssueLocalSession(::geteuid(), "tester");
  EXPECT_TRUE(issued.ok()) << issued.status().ToString();
  return issued.ok() ? issued->first : "";
}

// The certificate (PEM) an HTTPS listener at HOST:PORT presents in a new handshake that
// verifies it against `ca_pem`; "" if the handshake fails.
std::string HttpsServedCert(const std::string& address, const std::string& ca_pem) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* ca_bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
  BIO_free(ca_bio);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  BIO* conn = BIO_new_ssl_connect(ctx);
  BIO_set_conn_hostname(conn, address.c_str());
  std::string pem;
  SSL* ssl = nullptr;
  BIO_get_ssl(conn, &ssl);
  if (BIO_do_connect(conn) == 1 && BIO_do_handshake(conn) == 1) {
    if (X509* peer = SSL_get0_peer_certificate(ssl)) {
      BIO* out = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(out, peer);
      char* data = nullptr;
      const long n = BIO_get_mem_data(out, &data);
      pem.assign(data, static_cast<size_t>(n));
      BIO_free(out);
    }
  }
  BIO_free_all(conn);
  SSL_CTX_free(ctx);
  return pem;
}

// A call context carrying a bearer token ("" = none).
struct AuthedContext : grpc::ClientContext {
  explicit AuthedContext(const std::string& token) {
    if (!token.empty()) AddMetadata("authorization", "Bearer " + token);
  }
};

// Waits up to 5 s for pred.
template <typename F>
bool Eventually(F pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

struct FakeAgent {
  AuthedContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CoordinatorMessage>> stream;

  FakeAgent(v1::AgentLink::Stub& stub, const std::string& token, const std::string& name, int gpus)
      : ctx(token) {
    stream = stub.Connect(&ctx);
    v1::AgentMessage m;
    NodeSpec n{.name = name, .milli_cpus = 4000, .memory_mib = 8000, .gpus = {}};
    for (int i = 0; i < gpus; ++i)
      n.gpus.push_back({.index = i, .model = "virtual", .memory_mib = 1024, .is_virtual = true});
    ToProto(n, m.mutable_register_()->mutable_node(), "127.0.0.1");
    m.mutable_register_()->set_protocol(kWireProtocol);
    stream->Write(m);
  }
  v1::CoordinatorMessage Next() {
    v1::CoordinatorMessage m;
    EXPECT_TRUE(stream->Read(&m));
    return m;
  }
  void Send(const v1::AgentMessage& m) { EXPECT_TRUE(stream->Write(m)); }
  void Event(const v1::Launch& l, const std::string& state, int code = 0) {
    v1::AgentMessage m;
    auto* e = m.mutable_event();
    e->set_job_id(l.job_id());
    e->set_task_index(l.task_index());
    e->set_attempt(l.attempt());
    e->set_state(ParseWireTaskState(state).value());
    e->set_exit_code(code);
    Send(m);
  }
};

TEST(Server, SubmitLaunchEventsLogsOverGrpc) {
  std::string dir = TempDir("e2e");
  auto server = StartServer(dir);
  std::ifstream addr_file(dir + "/coordinator.addr");
  std::string addr;
  addr_file >> addr;
  EXPECT_EQ(addr, server->address());

  auto channel = Channel(*server);
  auto user = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);
  const std::string token = AdminToken(*server);

  FakeAgent agent(*link, token, "n1", 1);
  auto reply = agent.Next();
  ASSERT_TRUE(reply.has_register_reply());
  EXPECT_TRUE(reply.register_reply().accepted());

  // A second agent with the same name is refused while the first is connected.
  FakeAgent dup(*link, token, "n1", 1);
  auto refused = dup.Next();
  ASSERT_TRUE(refused.has_register_reply());
  EXPECT_FALSE(refused.register_reply().accepted());
  EXPECT_NE(refused.register_reply().error().find("already connected"), std::string::npos);

  v1::SubmitRequest req;
  JobSpec spec;
  spec.name = "hello";
  spec.command = {"echo", "hi"};
  spec.resources.gpus = 1;
  ToProto(spec, req.mutable_spec());
  v1::SubmitReply sub;
  {
    AuthedContext ctx(token);
    ASSERT_TRUE(user->Submit(&ctx, req, &sub).ok());
  }
  auto launch_msg = agent.Next();
  ASSERT_TRUE(launch_msg.has_launch());
  const v1::Launch launch = launch_msg.launch();
  EXPECT_EQ(launch.job_id(), sub.job_id());
  EXPECT_EQ(launch.command(0), "echo");
  agent.Event(launch, "running");
  v1::AgentMessage log;
  log.mutable_log()->set_job_id(launch.job_id());
  log.mutable_log()->set_task_index(0);
  log.mutable_log()->set_attempt(launch.attempt());
  log.mutable_log()->set_data("hi\n");
  agent.Send(log);
  agent.Event(launch, "succeeded");

  v1::JobRef ref;
  ref.set_job_id(sub.job_id());
  ASSERT_TRUE(Eventually([&] {
    AuthedContext ctx(token);
    v1::JobInfo info;
    return user->GetJob(&ctx, ref, &info).ok() && info.state() == v1::JOB_STATE_SUCCEEDED;
  }));

  AuthedContext log_ctx(token);
  v1::LogRequest lr;
  lr.set_job_id(sub.job_id());
  lr.set_task_index(0);
  lr.set_follow(true);
  auto reader = user->ReadLogs(&log_ctx, lr);
  std::string text;
  v1::LogChunk chunk;
  bool eof = false;
  while (reader->Read(&chunk)) {
    text += chunk.data();
    eof = eof || chunk.eof();
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(eof);
  EXPECT_EQ(text, "hi\n");

  // Bad input: unknown job, malformed spec, infeasible request.
  {
    AuthedContext ctx(token);
    v1::JobInfo info;
    ref.set_job_id(424242);
    EXPECT_EQ(user->GetJob(&ctx, ref, &info).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    AuthedContext ctx(token);
    v1::SubmitRequest bad;
    EXPECT_EQ(user->Submit(&ctx, bad, &sub).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    AuthedContext ctx(token);
    req.mutable_spec()->mutable_resources()->set_gpus(8);
    auto st = user->Submit(&ctx, req, &sub);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(st.error_message().find("largest node n1"), std::string::npos) << st.error_message();
  }
  agent.stream->WritesDone();
  server->Shutdown();
}

TEST(Server, ConcurrentSubmissionsAreAllDurable) {
  std::string dir = TempDir("many");
  auto server = StartServer(dir);
  auto channel = Channel(*server);
  auto user = v1::Coordinator::NewStub(channel);
  const std::string token = AdminToken(*server);
  v1::SubmitRequest req;
  req.mutable_spec()->add_command("true");
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        AuthedContext ctx(token);
        v1::SubmitReply r;
        if (user->Submit(&ctx, req, &r).ok()) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  server->Shutdown();
  server.reset();
  auto again = StartServer(dir);
  AuthedContext ctx(AdminToken(*again));
  v1::JobList list;
  v1::ListJobsRequest lr;
  auto ch2 = Channel(*again);
  ASSERT_TRUE(v1::Coordinator::NewStub(ch2)->ListJobs(&ctx, lr, &list).ok());
  EXPECT_EQ(list.jobs_size(), kThreads * kEach);
  again->Shutdown();
}

// A user of the server with its own token, made through the API by the admin.
std::string AddUser(v1::Coordinator::Stub& stub, const std::string& admin,
                    const std::string& name, const std::string& role) {
  AuthedContext ctx(admin);
  v1::ManageUsersRequest req;
  req.set_op("add");
  req.set_name(name);
  req.set_role(role);
  v1::ManageUsersReply reply;
  grpc::Status st = stub.ManageUsers(&ctx, req, &reply);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return reply.token();
}

grpc::Status Submit(v1::Coordinator::Stub& stub, const std::string& token, v1::JobSpec spec,
                    int64_t* id = nullptr) {
  AuthedContext ctx(token);
  v1::SubmitRequest req;
  *req.mutable_spec() = std::move(spec);
  v1::SubmitReply reply;
  grpc::Status st = stub.Submit(&ctx, req, &reply);
  if (id) *id = reply.job_id();
  return st;
}

TEST(Server, CallsWithoutAValidCredentialAreRefused) {
  auto server = StartServer(TempDir("anon"));
  auto channel = Channel(*server);
  auto user = v1::Coordinator::NewStub(channel);
  for (const std::string& token :
       {std::string(), std::string("garbage"), "mst_" + std::string(64, 'a'), NewToken()}) {
    AuthedContext ctx(token);
    v1::ListJobsRequest req;
    v1::JobList list;
    grpc::Status st = user->ListJobs(&ctx, req, &list);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
    EXPECT_FALSE(st.error_message().empty());
  }
  {  // a malformed header
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Basic dXNlcjpwYXNz");
    v1::ListJobsRequest req;
    v1::JobList list;
    EXPECT_EQ(user->ListJobs(&ctx, req, &list).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // An anonymous agent cannot register either.
  auto link = v1::AgentLink::NewStub(channel);
  FakeAgent anon(*link, "", "n1", 1);
  v1::CoordinatorMessage m;
  EXPECT_FALSE(anon.stream->Read(&m));
  EXPECT_EQ(anon.stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The server keeps serving.
  AuthedContext ctx(AdminToken(*server));
  v1::ListNodesRequest req;
  v1::NodeList nodes;
  EXPECT_TRUE(user->ListNodes(&ctx, req, &nodes).ok());
  EXPECT_EQ(nodes.nodes_size(), 0);
  server->Shutdown();
}

// Callers on the coordinator's machine reach it by its Unix socket: no TLS, the same checks.
TEST(Server, TheLocalSocketServesTheSameCallsWithTheSameChecks) {
  const std::string dir = TempDir("local");
  auto server = StartServer(dir);
  const std::string path = dir + "/" + kLocalGrpcSocketName;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A client finds it only for the address this coordinator wrote in its state dir.
  EXPECT_EQ(FindLocalGrpcSocket(dir, server->address()), path);
  EXPECT_EQ(FindLocalGrpcSocket(dir, "127.0.0.1:1"), "");
  EXPECT_EQ(FindLocalGrpcSocket(dir, server->address() + "," + server->address()), "");

  auto user = v1::Coordinator::NewStub(
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
  {
    AuthedContext ctx("");
    v1::ListJobsRequest req;
    v1::JobList list;
    EXPECT_EQ(user->ListJobs(&ctx, req, &list).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  AuthedContext ctx(AdminToken(*server));
  v1::SubmitRequest req;
  JobSpec spec;
  spec.command = {"true"};
  spec.workdir = "/tmp";
  ToProto(spec, req.mutable_spec());
  v1::SubmitReply reply;
  grpc::Status submitted = user->Submit(&ctx, req, &reply);
  EXPECT_TRUE(submitted.ok()) << submitted.error_message();
  EXPECT_GT(reply.job_id(), 0);

  server->Shutdown();
  EXPECT_FALSE(std::filesystem::exists(path));  // removed with the server
  // One a crashed coordinator left behind (bound, nobody listening) is not used.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  close(fd);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(FindLocalGrpcSocket(dir, server->address()), "");
}

TEST(Server, RolesAndOwnershipAreCheckedOnEveryCall) {
  const std::string dir = TempDir("roles");
  auto server = StartServer(dir);
  auto channel = Channel(*server);
  auto stub = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);
  const std::string admin = AdminToken(*server);
  const std::string alice = AddUser(*stub, admin, "alice", "user");
  const std::string bob = AddUser(*stub, admin, "bob", "user");
  const std::string vera = AddUser(*stub, admin, "vera", "viewer");
  const std::string node7 = AddUser(*stub, admin, "node7", "agent");
  ASSERT_FALSE(alice.empty());
  EXPECT_NE(alice, bob);

  v1::JobSpec spec;
  spec.add_command("true");
  (*spec.mutable_env())["SECRET"] = "s3cr3t";
  int64_t id = 0;
  ASSERT_TRUE(Submit(*stub, alice, spec, &id).ok());
  auto get = [&](const std::string& token) {
    AuthedContext ctx(token);
    v1::JobRef ref;
    ref.set_job_id(id);
    v1::JobInfo info;
    EXPECT_TRUE(stub->GetJob(&ctx, ref, &info).ok());
    return info;
  };
  EXPECT_EQ(get(alice).spec().user(), "alice");  // the owner is who the token names
  EXPECT_EQ(get(alice).spec().env().at("SECRET"), "s3cr3t");
  EXPECT_TRUE(get(bob).spec().env().empty());   // another user sees the job, not its env
  EXPECT_TRUE(get(vera).spec().env().empty());
  EXPECT_EQ(get(admin).spec().env().at("SECRET"), "s3cr3t");

  // Submitting: a viewer may not, a user only as itself, an admin for anyone.
  EXPECT_EQ(Submit(*stub, vera, spec).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::JobSpec as_alice = spec;
  as_alice.set_user("alice");
  grpc::Status st = Submit(*stub, bob, as_alice);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("only admins"), std::string::npos) << st.error_message();
  int64_t on_behalf = 0;
  ASSERT_TRUE(Submit(*stub, admin, as_alice, &on_behalf).ok());
  EXPECT_GT(on_behalf, id);

  // Logs: the owner only.
  {
    AuthedContext ctx(bob);
    v1::LogRequest lr;
    lr.set_job_id(id);
    lr.set_task_index(0);
    auto reader = stub->ReadLogs(&ctx, lr);
    v1::LogChunk chunk;
    while (reader->Read(&chunk)) {
    }
    grpc::Status ls = reader->Finish();
    EXPECT_EQ(ls.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(ls.error_message(),
              "permission denied: job " + std::to_string(id) + " belongs to alice");
  }
  // Cancel: bob's attempt on alice's job is refused, per id; alice's own succeeds.
  auto cancel = [&](const std::string& token, std::vector<int64_t> ids) {
    AuthedContext ctx(token);
    v1::CancelRequest req;
    for (int64_t i : ids) req.add_job_ids(i);
    v1::CancelReply reply;
    EXPECT_TRUE(stub->Cancel(&ctx, req, &reply).ok());
    return reply;
  };
  v1::CancelReply refused = cancel(bob, {id, 999999});
  ASSERT_EQ(refused.results_size(), 2);
  EXPECT_FALSE(refused.results(0).ok());
  EXPECT_EQ(refused.results(0).error(),
            "permission denied: job " + std::to_string(id) + " belongs to alice");
  EXPECT_FALSE(refused.results(1).ok());  // unknown: the coordinator's own answer
  EXPECT_EQ(refused.results(1).job_id(), 999999);
  EXPECT_EQ(get(admin).state(), v1::JOB_STATE_PENDING);  // unchanged
  v1::CancelReply mine = cancel(alice, {id});
  ASSERT_EQ(mine.results_size(), 1);
  EXPECT_TRUE(mine.results(0).ok()) << mine.results(0).error();

  // Users are managed by admins only.
  {
    AuthedContext ctx(alice);
    v1::ManageUsersRequest req;
    req.set_op("list");
    v1::ManageUsersReply reply;
    EXPECT_EQ(stub->ManageUsers(&ctx, req, &reply).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // Only a node presenting its certificate may renew one; a token, even an admin's, may not.
  {
    AuthedContext ctx(admin);
    v1::RenewRequest req;
    req.set_csr_pem(MakeCsr("anything")->cert_pem);
    v1::JoinReply reply;
    EXPECT_EQ(stub->RenewNodeCert(&ctx, req, &reply).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // An agent's token: node RPCs only, as its own node.
  EXPECT_EQ(Submit(*stub, node7, spec).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    FakeAgent imposter(*link, node7, "node8", 1);
    v1::CoordinatorMessage m;
    EXPECT_FALSE(imposter.stream->Read(&m));
    EXPECT_EQ(imposter.stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    FakeAgent agent(*link, node7, "node7", 1);
    auto reply = agent.Next();
    ASSERT_TRUE(reply.has_register_reply());
    EXPECT_TRUE(reply.register_reply().accepted());
    agent.stream->WritesDone();
  }

  // Rotate and remove take effect at once; users survive a restart.
  std::string alice2;
  {
    AuthedContext ctx(admin);
    v1::ManageUsersRequest req;
    req.set_op("rotate");
    req.set_name("alice");
    v1::ManageUsersReply reply;
    ASSERT_TRUE(stub->ManageUsers(&ctx, req, &reply).ok());
    alice2 = reply.token();
  }
  {
    AuthedContext ctx(admin);
    v1::ManageUsersRequest req;
    req.set_op("remove");
    req.set_name("bob");
    v1::ManageUsersReply reply;
    ASSERT_TRUE(stub->ManageUsers(&ctx, req, &reply).ok());
  }
  auto who = [&](v1::Coordinator::Stub& s, const std::string& token) {
    AuthedContext ctx(token);
    v1::WhoAmIRequest req;
    v1::WhoAmIReply reply;
    grpc::Status st = s.WhoAmI(&ctx, req, &reply);
    return st.ok() ? reply.name() + "/" + reply.role() : "refused";
  };
  EXPECT_EQ(who(*stub, alice), "refused");
  EXPECT_EQ(who(*stub, alice2), "alice/user");
  EXPECT_EQ(who(*stub, bob), "refused");
  server->Shutdown();
  server.reset();
  auto again = StartServer(dir);
  auto ch2 = Channel(*again);
  auto stub2 = v1::Coordinator::NewStub(ch2);
  EXPECT_EQ(who(*stub2, alice2), "alice/user");
  EXPECT_EQ(who(*stub2, vera), "vera/viewer");
  EXPECT_EQ(who(*stub2, bob), "refused");
  EXPECT_EQ(who(*stub2, admin), "refused");  // a local session does not outlive its server
  again->Shutdown();
}

TEST(Server, TheAuditLogRecordsChangesAndRefusals) {
  auto server = StartServer(TempDir("audit"));
  auto channel = Channel(*server);
  auto stub = v1::Coordinator::NewStub(channel);
  const std::string admin = AdminToken(*server);
  const std::string carol = AddUser(*stub, admin, "carol", "user");
  const std::string dan = AddUser(*stub, admin, "dan", "user");
  v1::JobSpec spec;
  spec.add_command("true");
  int64_t id = 0;
  ASSERT_TRUE(Submit(*stub, carol, spec, &id).ok());
  {  // dan tries to cancel carol's job
    AuthedContext ctx(dan);
    v1::CancelRequest req;
    req.add_job_ids(id);
    v1::CancelReply reply;
    ASSERT_TRUE(stub->Cancel(&ctx, req, &reply).ok());
  }
  // Anonymous calls: a flood of them from one host makes one row, not one row each.
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext ctx;
    v1::ListNodesRequest req;
    v1::NodeList nodes;
    EXPECT_FALSE(stub->ListNodes(&ctx, req, &nodes).ok());
  }
  auto audit = [&](const std::string& token, const std::string& who) {
    AuthedContext ctx(token);
    v1::AuditRequest req;
    req.set_identity(who);
    v1::AuditList list;
    grpc::Status st = stub->ListAudit(&ctx, req, &list);
    return std::make_pair(st, list);
  };
  ASSERT_TRUE(server->coordinator().store().Flush().ok());
  auto [st, all] = audit(admin, "");
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<std::string> lines;
  for (const auto& e : all.entries())
    lines.push_back(e.identity() + "|" + e.action() + "|" + e.target() + "|" +
                    (e.result() == "ok" ? "ok" : "refused"));
  const std::string job = "job " + std::to_string(id);
  const std::vector<std::string> want = {
      "tester|user add|user carol|ok",       "tester|user add|user dan|ok",
      "carol|submit|" + job + "|ok",         "dan|cancel|" + job + "|refused",
      "(unauthenticated)|list nodes||refused",
  };
  ASSERT_EQ(lines, want);
  EXPECT_NE(all.entries(3).result().find("belongs to carol"), std::string::npos);
  EXPECT_EQ(all.entries(2).role(), "user");
  EXPECT_EQ(all.entries(2).via(), "token");
  EXPECT_GT(all.entries(2).time_ms(), 0);
  // Filtered by identity; and only admins may read it (the refusal is audited too).
  auto [st2, dans] = audit(admin, "dan");
  ASSERT_TRUE(st2.ok());
  ASSERT_EQ(dans.entries_size(), 1);
  auto [st3, none] = audit(carol, "");
  EXPECT_EQ(st3.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(server->coordinator().store().Flush().ok());
  auto [st4, after] = audit(admin, "carol");
  ASSERT_TRUE(st4.ok());
  ASSERT_EQ(after.entries_size(), 2);
  EXPECT_EQ(after.entries(1).action(), "audit");
  server->Shutdown();
}

TEST(Server, LinksAreTlsCheckedAgainstTheClusterCa) {
  const std::string dir = TempDir("tls");
  auto server = StartServer(dir);
  // The CA and the server's certificate are in the state dir; the keys are private.
  struct stat st {};
  ASSERT_EQ(stat((dir + "/tls/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/tls/server.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto info = ReadCert(server->ca_pem());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "muster cluster CA");
  EXPECT_EQ(CertFingerprint(server->ca_pem()).value(), server->ca_fingerprint());

  const std::string token = AdminToken(*server);
  auto who = [&](std::shared_ptr<grpc::ChannelCredentials> creds) {
    auto ch = grpc::CreateChannel(server->address(), creds);
    auto stub = v1::Coordinator::NewStub(ch);
    AuthedContext ctx(token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::WhoAmIRequest req;
    v1::WhoAmIReply reply;
    return stub->WhoAmI(&ctx, req, &reply);
  };
  EXPECT_TRUE(who(MakeChannelCredentials({.ca_pem = server->ca_pem()})).ok());
  // A plaintext client, and one that trusts another CA, get nowhere; the server keeps serving.
  EXPECT_EQ(who(grpc::InsecureChannelCredentials()).error_code(), grpc::StatusCode::UNAVAILABLE);
  auto other = MakeCa("someone else", 1);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(who(MakeChannelCredentials({.ca_pem = other->cert_pem})).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(who(MakeChannelCredentials({.ca_pem = server->ca_pem()})).ok());
  // An expired client certificate, even one the cluster CA signed, fails the handshake.
  const KeyAndCert ca{ReadTlsFile(dir + "/tls/ca.key").value(), server->ca_pem()};
  auto csr = MakeCsr("tester");
  ASSERT_TRUE(csr.ok());
  auto expired = SignCsr(ca, csr->cert_pem, "tester", -1);
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(who(MakeChannelCredentials({.ca_pem = server->ca_pem(),
                                        .key_pem = csr->key_pem,
                                        .cert_pem = *expired}))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(who(MakeChannelCredentials({.ca_pem = server->ca_pem()})).ok());

  // A restart keeps the CA (agents and clients keep trusting it).
  const std::string fp = server->ca_fingerprint();
  server->Shutdown();
  server.reset();
  auto again = StartServer(dir);
  EXPECT_EQ(again->ca_fingerprint(), fp);
  again->Shutdown();
}

TEST(Server, CertificatesAreRenewedWhileItServes) {
  const std::string dir = TempDir("renew");
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  o.coordinator.auth.owner_uid = ::geteuid();
  o.tls_check_ms = 200;  // as a running coordinator does every hour
  o.tls_refresh_s = 1;
  o.http = "127.0.0.1:0";  // HTTPS serves the renewed certificate too
  auto started = CoordinatorServer::Start(o);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto& server = *started;
  const std::string token = AdminToken(*server);
  const std::string first_ca = server->ca_pem();
  // The certificate the server presents in a new handshake, checked against `ca`.
  auto served = [&](const std::string& ca) -> std::string {
    auto ch = grpc::CreateChannel(server->address(), MakeChannelCredentials({.ca_pem = ca}));
    auto stub = v1::Coordinator::NewStub(ch);
    AuthedContext ctx(token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::WhoAmIRequest req;
    v1::WhoAmIReply reply;
    if (!stub->WhoAmI(&ctx, req, &reply).ok() || !ctx.auth_context()) return "";
    auto pem = ctx.auth_context()->FindPropertyValues("x509_pem_cert");
    return pem.size() == 1 ? std::string(pem[0].data(), pem[0].size()) : "";
  };
  const std::string original = served(first_ca);
  ASSERT_FALSE(original.empty());
  const auto original_info = ReadCert(original);
  ASSERT_TRUE(original_info.ok());
  EXPECT_EQ(HttpsServedCert(server->http_address(), first_ca), original);

  // Months pass: the CA has 20 days left and the server certificate 10 (same keys, as the
  // coordinator itself would have them). It renews both without a restart.
  const KeyAndCert ca{ReadTlsFile(dir + "/tls/ca.key").value(), first_ca};
  auto old_ca = RenewCa(ca, 20);
  ASSERT_TRUE(old_ca.ok());
  auto old_server = IssueCert(*old_ca, "muster coordinator", 10, original_info->sans, true,
                              ReadTlsFile(dir + "/tls/server.key").value());
  ASSERT_TRUE(old_server.ok());
  ASSERT_TRUE(WriteTlsFile(dir + "/tls/ca.crt", old_ca->cert_pem, 0644).ok());
  ASSERT_TRUE(
      WriteTlsFile(dir + "/tls/server.crt", old_server->cert_pem + old_ca->cert_pem, 0644).ok());

  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string renewed;
  for (int i = 0; i < 150 && renewed.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string now_served = served(first_ca);
    auto info = ReadCert(now_served);
    if (info.ok() && now_served != original && info->not_after_ms - now > 80LL * 86400 * 1000)
      renewed = now_served;
  }
  ASSERT_FALSE(renewed.empty()) << "the running server never presented a renewed certificate";
  EXPECT_EQ(ReadCert(renewed)->sans, original_info->sans);
  EXPECT_EQ(HttpsServedCert(server->http_address(), first_ca), renewed)
      << "the HTTPS listener serves the renewed certificate without a restart";
  // The CA certificate was renewed too, with its key: a year again, a new fingerprint, and
  // clients holding either CA certificate still connect.
  const std::string new_ca = server->ca_pem();
  EXPECT_NE(new_ca, first_ca);
  EXPECT_GT(ReadCert(new_ca)->not_after_ms - now, 360LL * 86400 * 1000);
  EXPECT_EQ(server->ca_fingerprint(), CertFingerprint(new_ca).value());
  EXPECT_EQ(ReadTlsFile(dir + "/tls/ca.crt").value(), new_ca);
  EXPECT_FALSE(served(new_ca).empty());
  EXPECT_FALSE(served(first_ca).empty());
  server->Shutdown();
}

TEST(Server, PlaintextOnlyWhenAskedAndOnlyOnLoopback) {
  ServerOptions o;
  o.listen = "0.0.0.0:0";
  o.insecure = true;
  o.coordinator.state_dir = TempDir("insecure");
  auto refused = CoordinatorServer::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--insecure is refused"), std::string::npos);
  o.listen = "127.0.0.1:0";
  auto plain = CoordinatorServer::Start(o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ((*plain)->ca_pem(), "");
  auto ch = grpc::CreateChannel((*plain)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Coordinator::NewStub(ch);
  grpc::ClientContext ctx;
  v1::WhoAmIRequest req;
  v1::WhoAmIReply reply;
  // Plaintext still needs a credential.
  EXPECT_EQ(stub->WhoAmI(&ctx, req, &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  (*plain)->Shutdown();
}

TEST(Server, RemovingAnAgentsUserCutsItsLinkAtOnce) {
  auto server = StartServer(TempDir("revoke"));
  auto channel = Channel(*server);
  auto stub = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);
  const std::string admin = AdminToken(*server);
  const std::string node9 = AddUser(*stub, admin, "node9", "agent");
  FakeAgent agent(*link, node9, "node9", 1);
  auto reply = agent.Next();
  ASSERT_TRUE(reply.has_register_reply());
  ASSERT_TRUE(reply.register_reply().accepted());
  {
    AuthedContext ctx(admin);
    v1::ManageUsersRequest req;
    req.set_op("remove");
    req.set_name("node9");
    v1::ManageUsersReply r;
    ASSERT_TRUE(stub->ManageUsers(&ctx, req, &r).ok());
  }
  // The stream ends without the agent doing anything (reads skip lease grants).
  v1::CoordinatorMessage m;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool ended = false;
  while (std::chrono::steady_clock::now() < deadline && !ended) ended = !agent.stream->Read(&m);
  EXPECT_TRUE(ended);
  agent.stream->Finish();
  // And it cannot come back.
  FakeAgent again(*link, node9, "node9", 1);
  EXPECT_FALSE(again.stream->Read(&m));
  EXPECT_EQ(again.stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  server->Shutdown();
}

TEST(Server, ItChecksWhatClientsAndAgentsSendWhateverTheyChecked) {
  auto server = StartServer(TempDir("validate"));
  auto channel = Channel(*server);
  auto stub = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);
  const std::string admin = AdminToken(*server);
  auto bad = [&](auto mutate) {
    v1::JobSpec spec;
    spec.add_command("true");
    mutate(spec);
    return Submit(*stub, admin, spec).error_code();
  };
  EXPECT_EQ(bad([](v1::JobSpec& s) { s.set_est_time_s(std::nan("")); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad([](v1::JobSpec& s) { s.set_est_work(1e300); }), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad([](v1::JobSpec& s) { s.set_name(std::string(10000, 'x')); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad([](v1::JobSpec& s) { s.set_user("a b"); }), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad([](v1::JobSpec& s) { s.mutable_resources()->set_gpus(1 << 20); }),
            grpc::StatusCode::INVALID_ARGUMENT);
  // An agent reporting an impossible node is refused.
  {
    AuthedContext ctx(admin);
    auto stream = link->Connect(&ctx);
    v1::AgentMessage m;
    NodeSpec n{.name = "weird", .milli_cpus = 1000, .memory_mib = 100, .gpus = {}};
    ToProto(n, m.mutable_register_()->mutable_node(), "127.0.0.1");
    m.mutable_register_()->mutable_node()->set_speed(std::nan(""));
    m.mutable_register_()->set_protocol(kWireProtocol);
    stream->Write(m);
    v1::CoordinatorMessage reply;
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_FALSE(reply.register_reply().accepted());
    EXPECT_NE(reply.register_reply().error().find("impossible"), std::string::npos);
    stream->Finish();
  }
  AuthedContext ctx(admin);
  v1::ListNodesRequest req;
  v1::NodeList nodes;
  ASSERT_TRUE(stub->ListNodes(&ctx, req, &nodes).ok());
  EXPECT_EQ(nodes.nodes_size(), 0);  // nothing was taken in
  server->Shutdown();
}

TEST(Server, BothEndsOfALinkAgreeOnItsSizeLimits) {
  const std::string dir = TempDir("limits");
  auto server = StartServer(dir);
  const std::string token = AdminToken(*server);
  auto submit = [&](const grpc::ChannelArguments& args, size_t bytes) {
    auto ch = grpc::CreateCustomChannel(
        server->address(), MakeChannelCredentials({.ca_pem = server->ca_pem()}), args);
    auto stub = v1::Coordinator::NewStub(ch);
    AuthedContext ctx(token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::SubmitRequest req;
    req.mutable_spec()->add_command("/bin/echo");
    req.mutable_spec()->add_command(std::string(bytes, 'x'));
    v1::SubmitReply reply;
    return stub->Submit(&ctx, req, &reply);
  };
  // The clients' own limit stops an oversized request before it is sent ...
  grpc::Status local = submit(LinkChannelArgs(false), kMaxRequestBytes + 1024);
  EXPECT_EQ(local.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(local.error_message().find("Sent message larger than max"), std::string::npos)
      << local.error_message();
  // ... and the server's refuses one from a client without it; it keeps serving.
  grpc::ChannelArguments unlimited;
  unlimited.SetMaxSendMessageSize(-1);
  grpc::Status remote = submit(unlimited, kMaxRequestBytes + 1024);
  EXPECT_EQ(remote.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << remote.error_message();
  grpc::Status fine = submit(LinkChannelArgs(false), 1000);
  EXPECT_NE(fine.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << fine.error_message();
  EXPECT_NE(fine.error_code(), grpc::StatusCode::UNAVAILABLE) << fine.error_message();
  server->Shutdown();
}

TEST(Server, UsersSubmittingTooFastAreToldToSlowDown) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = TempDir("throttle");
  o.coordinator.auth.owner_uid = ::geteuid();
  o.submit_rate = 5;
  o.submit_burst = 3;
  auto server = CoordinatorServer::Start(o);
  ASSERT_TRUE(server.ok());
  auto channel = Channel(**server);
  auto stub = v1::Coordinator::NewStub(channel);
  const std::string admin = AdminToken(**server);
  const std::string erin = AddUser(*stub, admin, "erin", "user");
  v1::JobSpec spec;
  spec.add_command("true");
  int ok = 0;
  grpc::Status last;
  for (int i = 0; i < 6; ++i) {
    last = Submit(*stub, erin, spec);
    ok += last.ok();
  }
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 4);  // the burst, and at most one more refilled meanwhile
  EXPECT_EQ(last.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(last.error_message().rfind("slow down: erin may submit 5 jobs per second", 0), 0u)
      << last.error_message();
  // Admins are not limited; erin can go on after a pause.
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(Submit(*stub, admin, spec).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(Submit(*stub, erin, spec).ok());
  (*server)->Shutdown();
}

}  // namespace
}  // namespace muster::cluster
