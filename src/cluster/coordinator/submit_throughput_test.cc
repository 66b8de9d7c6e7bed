// Durable submission throughput over gRPC on loopback (DESIGN.md target: >= 2,000 jobs/s).
// Disabled by default (it measures, it does not check timing); run with
//   build/dev/src/cluster/muster_coordinator_test --gtest_also_run_disabled_tests
//       --gtest_filter='*SubmitThroughput*'
// It compares group commit (the store's normal mode) with a baseline of one transaction per
// submission (max_batch = 1), both with synchronous=FULL, in the same run, and checks that every
// acknowledged job is in the store after a restart.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

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
  std::string base = std::filesystem::temp_directory_path() / ("muster_tput_" + std::to_string(::getpid()));
  const int clients = 64, total = 10000;
  double group = MeasureRate(4096, clients, total, base + "_group");
  double single = MeasureRate(1, clients, total / 5, base + "_single");
  std::printf("durable submissions/s over gRPC, %d clients: group commit %.0f, one commit per "
              "submission %.0f\n",
              clients, group, single);
  std::filesystem::remove_all(base + "_group");
  std::filesystem::remove_all(base + "_single");
}

}  // namespace
}  // namespace muster::cluster
