// Durable submission throughput over gRPC on loopback (DESIGN.md target: >= 2,000 jobs/s) and
// submit -> Launch latency on an idle cluster (target p99 <= 50 ms).
// Disabled by default (they measure, they do not check timing); run with
//   build/dev/src/cluster/muster_coordinator_test --gtest_also_run_disabled_tests
//       --gtest_filter='Throughput.*'
// It compares group commit (the store's normal mode) with a baseline of one transaction per
// submission (max_batch = 1), both with synchronous=FULL, in the same run, and checks that every
// acknowledged job is in the store after a restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "cluster/common/convert.h"
#include "cluster/coordinator/server.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::cluster {
namespace {

double MeasureRate(int max_batch, int clients, int total, const std::string& dir) {
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  o.coordinator.store.max_batch = max_batch;
  auto server = CoordinatorServer::Start(o);
  EXPECT_TRUE(server.ok());
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Coordinator::NewStub(channel);
  v1::SubmitRequest req;
  req.mutable_spec()->set_name("bench");
  req.mutable_spec()->add_command("true");
  std::atomic<int> next{0}, ok{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      while (next.fetch_add(1) < total) {
        grpc::ClientContext ctx;
        v1::SubmitReply r;
        if (stub->Submit(&ctx, req, &r).ok()) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok.load(), total);
  (*server)->Shutdown();
  server->reset();
  // Everything acknowledged is durable.
  auto store = Store::Open(dir + "/state.db");
  EXPECT_TRUE(store.ok());
  auto contents = (*store)->LoadAll();
  EXPECT_EQ(contents->jobs.size(), static_cast<size_t>(total));
  return total / secs;
}

TEST(Throughput, DISABLED_SubmitThroughput) {
  std::string base =
      std::filesystem::temp_directory_path() / ("muster_tput_" + std::to_string(::getpid()));
  const int clients = 64, total = 10000;
  double group = MeasureRate(4096, clients, total, base + "_group");
  double single = MeasureRate(1, clients, total / 5, base + "_single");
  std::printf(
      "durable submissions/s over gRPC, %d clients: group commit %.0f, one commit per "
      "submission %.0f\n",
      clients, group, single);
  std::filesystem::remove_all(base + "_group");
  std::filesystem::remove_all(base + "_single");
}

// One fake agent (1 GPU) over a real AgentLink stream; jobs submitted one at a time; the time
// from calling Submit to the Launch arriving at the agent, which then reports success at once.
TEST(Throughput, DISABLED_SubmitToLaunchLatency) {
  std::string dir =
      std::filesystem::temp_directory_path() / ("muster_latency_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  auto server = CoordinatorServer::Start(o);
  ASSERT_TRUE(server.ok());
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto user = v1::Coordinator::NewStub(channel);
  auto link = v1::AgentLink::NewStub(channel);
  grpc::ClientContext agent_ctx;
  auto stream = link->Connect(&agent_ctx);
  v1::AgentMessage reg;
  NodeSpec n{.name = "n1",
             .milli_cpus = 4000,
             .memory_mib = 8000,
             .gpus = {{.index = 0, .model = "virtual", .memory_mib = 1024, .is_virtual = true}}};
  ToProto(n, reg.mutable_register_()->mutable_node(), "127.0.0.1");
  ASSERT_TRUE(stream->Write(reg));
  v1::CoordinatorMessage m;
  ASSERT_TRUE(stream->Read(&m));
  v1::SubmitRequest req;
  req.mutable_spec()->add_command("true");
  req.mutable_spec()->mutable_resources()->set_gpus(1);
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    grpc::ClientContext ctx;
    v1::SubmitReply r;
    ASSERT_TRUE(user->Submit(&ctx, req, &r).ok());
    ASSERT_TRUE(stream->Read(&m));
    ASSERT_TRUE(m.has_launch());
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    v1::AgentMessage done;
    auto* e = done.mutable_event();
    e->set_job_id(m.launch().job_id());
    e->set_attempt(m.launch().attempt());
    e->set_state("succeeded");
    ASSERT_TRUE(stream->Write(done));
    // Wait until the GPU is free again so that every job finds an idle cluster.
    for (;;) {
      grpc::ClientContext c2;
      v1::JobRef ref;
      ref.set_job_id(m.launch().job_id());
      v1::JobInfo info;
      ASSERT_TRUE(user->GetJob(&c2, ref, &info).ok());
      if (info.state() == "succeeded") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "submit -> Launch on an idle cluster, %zu jobs: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      ms.size(), ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
  stream->WritesDone();
  (*server)->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace muster::cluster
