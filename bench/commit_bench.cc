// Durable submissions per second through the coordinator's gRPC Submit, in-process on loopback:
// group commit (the store's normal mode: concurrent submissions share one transaction) against a
// baseline of one transaction per submission (max_batch = 1), both with synchronous=FULL, in the
// same run. After each run the store is reopened and every acknowledged job must be in it.
// (bench/submit_bench.cc measures the whole path with real agents and the submit->start latency.)
//
//   commit_bench [CLIENTS] [JOBS]     defaults: 64 clients, 10,000 jobs (2,000 for the baseline)
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cluster/coordinator/server.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace {

using namespace muster;
using namespace muster::cluster;

// Jobs per second, or a negative value after printing what went wrong.
double MeasureRate(int max_batch, int clients, int total, const std::string& dir) {
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  o.coordinator.store.max_batch = max_batch;
  o.coordinator.auth.owner_uid = geteuid();
  auto server = CoordinatorServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "commit_bench: %s\n", server.status().ToString().c_str());
    return -1;
  }
  // The bench is the server's owner: a local session makes it an admin.
  auto session = (*server)->coordinator().auth().IssueLocalSession(geteuid(), "bench");
  if (!session.ok()) {
    std::fprintf(stderr, "commit_bench: %s\n", session.status().ToString().c_str());
    return -1;
  }
  const std::string bearer = "Bearer " + session->first;
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
        ctx.AddMetadata("authorization", bearer);
        v1::SubmitReply r;
        if (stub->Submit(&ctx, req, &r).ok()) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (*server)->Shutdown();
  server->reset();
  auto store = SqliteStore::Open(dir + "/state.db");
  size_t stored = store.ok() ? (*store)->LoadAll()->jobs.size() : 0;
  std::filesystem::remove_all(dir);
  if (ok.load() != total || stored != static_cast<size_t>(total)) {
    std::fprintf(stderr, "commit_bench: %d of %d acknowledged, %zu in the store after reopening\n",
                 ok.load(), total, stored);
    return -1;
  }
  return total / secs;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 64;
  const int total = argc > 2 ? std::atoi(argv[2]) : 10000;
  if (clients < 1 || total < clients) {
    std::fprintf(stderr, "usage: commit_bench [CLIENTS >= 1] [JOBS >= CLIENTS]\n");
    return 2;
  }
  const std::string base =
      std::filesystem::temp_directory_path() / ("muster_commit_" + std::to_string(::getpid()));
  const double single = MeasureRate(1, clients, total / 5, base + "_single");
  const double group = MeasureRate(4096, clients, total, base + "_group");
  if (single < 0 || group < 0) return 1;
  std::printf("durable submissions/s over gRPC, %d clients\n", clients);
  std::printf("  baseline: one transaction per submission  %8.0f\n", single);
  std::printf("  group commit                              %8.0f   (%.2fx baseline; target >= 2000)\n",
              group, group / single);
  return 0;
}
