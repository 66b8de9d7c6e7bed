// Durable submissions per second through the coordinator's gRPC Submit, in-process on loopback:
// group commit (the store's normal mode: concurrent submissions share one transaction) against a
// baseline of one transaction per submission (max_batch = 1), both with synchronous=FULL, in the
// same run. After each run the store is reopened and every acknowledged job must be in it.
// (bench/submit_bench.cc measures the whole path with real agents and the submit->start latency.)
// Then the price of TLS: group-commit throughput and the p99 of one client's submit round trip,
// over TLS (the default) against --insecure plaintext, alternating, best of two runs each.
// Then the same group-commit run on a PostgreSQL store (a throwaway server on 127.0.0.1 that the
// bench starts, PostgresTestServer; skipped when no server binaries are installed) against
// SQLite, alternating, best of two each.
//
//   commit_bench [CLIENTS] [JOBS]     defaults: 64 clients, 10,000 jobs (2,000 for the baseline)
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cluster/coordinator/server.h"
#include "cluster/store/open_store.h"
#include "cluster/store/postgres_test_server.h"
#include "cluster/store/sqlite_store.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace {

using namespace muster;
using namespace muster::cluster;

struct Run {
  double rate = -1;          // jobs per second; negative after printing what went wrong
  double p99_ms = 0;         // of the submit round trips
};

// Jobs per second, or a negative value after printing what went wrong.
// `store_url` "" = SQLite in `dir` (else the store it names, which must be empty).
Run Measure(int max_batch, int clients, int total, const std::string& dir, bool insecure,
            const std::string& store_url = "") {
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.coordinator.state_dir = dir;
  o.coordinator.store_url = store_url;
  o.coordinator.store.max_batch = max_batch;
  o.coordinator.auth.owner_uid = geteuid();
  o.insecure = insecure;
  auto server = CoordinatorServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "commit_bench: %s\n", server.status().ToString().c_str());
    return {};
  }
  // The bench is the server's owner: a local session makes it an admin.
  auto session = (*server)->coordinator().auth().IssueLocalSession(geteuid(), "bench");
  if (!session.ok()) {
    std::fprintf(stderr, "commit_bench: %s\n", session.status().ToString().c_str());
    return {};
  }
  const std::string bearer = "Bearer " + session->first;
  auto channel = grpc::CreateChannel(
      (*server)->address(),
      MakeChannelCredentials({.insecure = insecure, .ca_pem = (*server)->ca_pem()}));
  auto stub = v1::Coordinator::NewStub(channel);
  v1::SubmitRequest req;
  req.mutable_spec()->set_name("bench");
  req.mutable_spec()->add_command("true");
  std::atomic<int> next{0}, ok{0};
  std::vector<std::vector<double>> took(static_cast<size_t>(clients));
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      while (next.fetch_add(1) < total) {
        auto t0 = std::chrono::steady_clock::now();
        grpc::ClientContext ctx;
        ctx.AddMetadata("authorization", bearer);
        v1::SubmitReply r;
        if (stub->Submit(&ctx, req, &r).ok()) ++ok;
        took[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
    });
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (const auto& v : took) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  const double p99 = all.empty() ? 0 : all[std::min(all.size() - 1, all.size() * 99 / 100)];
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (*server)->Shutdown();
  server->reset();
  auto store = OpenStateStore(store_url, dir + "/state.db");
  size_t stored = store.ok() ? (*store)->LoadAll()->jobs.size() : 0;
  std::filesystem::remove_all(dir);
  if (ok.load() != total || stored != static_cast<size_t>(total)) {
    std::fprintf(stderr, "commit_bench: %d of %d acknowledged, %zu in the store after reopening\n",
                 ok.load(), total, stored);
    return {};
  }
  return {total / secs, p99};
}

// Best of two runs (the highest rate, the lowest p99).
Run Best(const Run& a, const Run& b) {
  if (a.rate < 0 || b.rate < 0) return {};
  return {std::max(a.rate, b.rate), std::min(a.p99_ms, b.p99_ms)};
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
  const double single = Measure(1, clients, total / 5, base + "_single", false).rate;
  const double group = Measure(4096, clients, total, base + "_group", false).rate;
  if (single < 0 || group < 0) return 1;
  std::printf("durable submissions/s over gRPC (TLS), %d clients\n", clients);
  std::printf("  baseline: one transaction per submission  %8.0f\n", single);
  std::printf("  group commit                              %8.0f   (%.2fx baseline; target >= 2000)\n",
              group, group / single);

  // TLS against plaintext, alternating so that drift on a shared machine hits both.
  Run plain[2], tls[2], plain1[2], tls1[2];
  for (int i = 0; i < 2; ++i) {
    plain[i] = Measure(4096, clients, total, base + "_plain", true);
    tls[i] = Measure(4096, clients, total, base + "_tls", false);
    plain1[i] = Measure(4096, 1, 500, base + "_plain1", true);
    tls1[i] = Measure(4096, 1, 500, base + "_tls1", false);
  }
  const Run p = Best(plain[0], plain[1]), t = Best(tls[0], tls[1]);
  const Run p1 = Best(plain1[0], plain1[1]), t1 = Best(tls1[0], tls1[1]);
  if (p.rate < 0 || t.rate < 0 || p1.rate < 0 || t1.rate < 0) return 1;
  std::printf("TLS against --insecure (best of 2 each)\n");
  std::printf("  %d clients: %8.0f/s TLS, %8.0f/s plaintext   (TLS/plaintext %.2f; target >= 0.85)\n",
              clients, t.rate, p.rate, t.rate / p.rate);
  std::printf("  1 client, submit round trip p99: %.2f ms TLS, %.2f ms plaintext   (%+.2f ms; "
              "target <= +1 ms)\n",
              t1.p99_ms, p1.p99_ms, t1.p99_ms - p1.p99_ms);

  // PostgreSQL against SQLite, each on an empty store, alternating.
  auto pg = PostgresTestServer::Start();
  if (!pg.ok()) {
    std::printf("PostgreSQL: skipped (%s)\n", pg.status().message().c_str());
    return 0;
  }
  auto empty = [&] {
    return (*pg)->Exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION " +
                       (*pg)->user());
  };
  Run lite[2], post[2];
  for (int i = 0; i < 2; ++i) {
    lite[i] = Measure(4096, clients, total, base + "_lite", false);
    if (Status s = empty(); !s.ok()) {
      std::fprintf(stderr, "commit_bench: %s\n", s.ToString().c_str());
      return 1;
    }
    post[i] = Measure(4096, clients, total, base + "_pg", false, (*pg)->url());
  }
  const Run l = Best(lite[0], lite[1]), q = Best(post[0], post[1]);
  if (l.rate < 0 || q.rate < 0) return 1;
  std::printf("PostgreSQL against SQLite, group commit over TLS (best of 2 each)\n");
  std::printf("  %d clients: %8.0f/s PostgreSQL, %8.0f/s SQLite   (PostgreSQL/SQLite %.2f)\n",
              clients, q.rate, l.rate, q.rate / l.rate);
  std::printf("  submit round trip p99: %.2f ms PostgreSQL, %.2f ms SQLite\n", q.p99_ms, l.p99_ms);
  return 0;
}
