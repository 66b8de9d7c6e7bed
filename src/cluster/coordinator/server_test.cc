// In-process end-to-end: the real gRPC server on an ephemeral port, a user client and a fake
// agent speaking AgentLink over a real stream.
#include "cluster/coordinator/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/common/convert.h"
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
  auto s = CoordinatorServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

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
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CoordinatorMessage>> stream;

  FakeAgent(v1::AgentLink::Stub& stub, const std::string& name, int gpus) {
    stream = stub.Connect(&ctx);
    v1::AgentMessage m;
    NodeSpec n{.name = name, .milli_cpus = 4000, .memory_mib = 8000, .gpus = {}};
    for (int i = 0; i < gpus; ++i)
      n.gpus.push_back({.index = i, .model = "virtual", .memory_mib = 1024, .is_virtual = true});
    ToProto(n, m.mutable_register_()->mutable_node(), "127.0.0.1");
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
    e->set_state(state);
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

  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto user = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);

  FakeAgent agent(*link, "n1", 1);
  auto reply = agent.Next();
  ASSERT_TRUE(reply.has_register_reply());
  EXPECT_TRUE(reply.register_reply().accepted());

  // A second agent with the same name is refused while the first is connected.
  FakeAgent dup(*link, "n1", 1);
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
    grpc::ClientContext ctx;
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
    grpc::ClientContext ctx;
    v1::JobInfo info;
    return user->GetJob(&ctx, ref, &info).ok() && info.state() == "succeeded";
  }));

  grpc::ClientContext log_ctx;
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
    grpc::ClientContext ctx;
    v1::JobInfo info;
    ref.set_job_id(424242);
    EXPECT_EQ(user->GetJob(&ctx, ref, &info).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::SubmitRequest bad;
    EXPECT_EQ(user->Submit(&ctx, bad, &sub).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
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
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto user = v1::Coordinator::NewStub(channel);
  v1::SubmitRequest req;
  req.mutable_spec()->add_command("true");
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        grpc::ClientContext ctx;
        v1::SubmitReply r;
        if (user->Submit(&ctx, req, &r).ok()) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  server->Shutdown();
  server.reset();
  auto again = StartServer(dir);
  grpc::ClientContext ctx;
  v1::JobList list;
  v1::ListJobsRequest lr;
  auto ch2 = grpc::CreateChannel(again->address(), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(v1::Coordinator::NewStub(ch2)->ListJobs(&ctx, lr, &list).ok());
  EXPECT_EQ(list.jobs_size(), kThreads * kEach);
  again->Shutdown();
}

}  // namespace
}  // namespace muster::cluster
