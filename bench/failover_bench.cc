// failover_bench: how long a cluster of two coordinators on one PostgreSQL database (a throwaway
// server on 127.0.0.1 that the bench starts, PostgresTestServer) answers no client after its
// leader is killed with SIGKILL: from the kill to the first call answered through the list of
// both addresses, as a client with `--coordinator a,b` sees it. Each kill comes at a random
// point (up to a lease) after the leader took over. The killed coordinator is started again as
// the standby each time, so the lead alternates.
//
// Baseline, in the same run: a clean handover (SIGTERM: the leader resigns its lease, so the
// standby takes over at its next poll), the floor that a kill adds the lease's run-out to.
// Reported: the distribution of both, and the kill's median over the lease and over the handover.
//
// Usage: failover_bench [--kills 20] [--handovers 5] [--lease 2s] [--muster PATH] [--keep 1]
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"
#include "cluster/client/coordinator_client.h"
#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"
#include "cluster/store/postgres_test_server.h"
#include "core/resources.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace muster;

using bench::Spawn;

// Sends `sig` and reaps the process (SIGKILL to its group after 10 s).
void Reap(pid_t pid, int sig) { bench::Stop(pid, sig, std::chrono::seconds(10)); }

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

void PrintDistribution(const char* what, const std::vector<double>& ms) {
  std::printf("%-28s n=%-3zu min %6.0f  p50 %6.0f  p90 %6.0f  max %6.0f ms\n", what, ms.size(),
              Percentile(ms, 0), Percentile(ms, 0.5), Percentile(ms, 0.9), Percentile(ms, 1));
}

struct Bench {
  std::string muster, lease = "2s";
  int kills = 20, handovers = 5;
  bool keep = false;  // --keep 1: leave the directory (the coordinators' logs) behind
  std::unique_ptr<cluster::PostgresTestServer> db;
  fs::path dir;
  std::string address[2], list;
  pid_t pid[2] = {0, 0};

  fs::path StateDir(int i) const { return dir / ("c" + std::to_string(i)); }
  fs::path Log(int i) const { return dir / ("c" + std::to_string(i) + ".log"); }

  void Start(int i) {
    pid[i] = Spawn({muster, "coordinator", "--listen", address[i], "--state-dir",
                    StateDir(i).string(), "--store", db->url(), "--leader-lease", lease},
                   Log(i));
  }
};

// A port nothing listens on now.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  Bench b;
  b.muster = MUSTER_BINARY;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--kills") b.kills = std::atoi(value.c_str());
    else if (flag == "--handovers") b.handovers = std::atoi(value.c_str());
    else if (flag == "--lease") b.lease = value;
    else if (flag == "--muster") b.muster = value;
    else if (flag == "--keep") b.keep = value == "1";
    else {
      std::fprintf(stderr, "usage: failover_bench [--kills N] [--handovers N] [--lease D] "
                           "[--muster PATH] [--keep 1]\n");
      return 2;
    }
  }
  if (auto bin = cluster::PostgresTestServer::FindBinaries(); !bin.ok()) {
    std::fprintf(stderr, "failover_bench: %s\n", bin.status().message().c_str());
    return 1;
  }
  auto db = cluster::PostgresTestServer::Start();
  if (!db.ok()) {
    std::fprintf(stderr, "failover_bench: %s\n", db.status().message().c_str());
    return 1;
  }
  b.db = std::move(db).value();
  char tmpl[] = "/tmp/muster-failover-bench-XXXXXX";
  b.dir = mkdtemp(tmpl);
  for (int i = 0; i < 2; ++i) b.address[i] = "127.0.0.1:" + std::to_string(FreePort());
  b.list = b.address[0] + "," + b.address[1];
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "failover_bench: %s\n--- c0:\n%s\n--- c1:\n%s\n", why.c_str(),
                 Read(b.Log(0)).c_str(), Read(b.Log(1)).c_str());
    for (pid_t p : b.pid) Reap(p, SIGKILL);
    return 1;
  };

  b.Start(0);
  if (!WaitFor([&] { return fs::exists(b.StateDir(0) / "coordinator.addr"); }, 15s))
    return fail("the first coordinator did not lead");
  fs::create_directories(b.StateDir(1) / "tls");
  for (const char* f : {"ca.key", "ca.crt"})
    fs::copy_file(b.StateDir(0) / "tls" / f, b.StateDir(1) / "tls" / f);
  b.Start(1);
  if (!WaitFor([&] { return Count(Read(b.Log(1)), "standby: ") > 0; }, 15s))
    return fail("the second coordinator did not stand by");

  // An admin token (in the database: both take it), through c0's local socket.
  client::ClientOptions local{.address = b.address[0],
                              .credentials = cluster::TokenSource::Local(
                                  (b.StateDir(0) / cluster::kLocalAuthSocketName).string())};
  auto transport = cluster::ResolveClientTransport(b.StateDir(0).string());
  if (!transport.ok()) return fail(transport.status().message());
  local.transport = *transport;
  client::CoordinatorClient owner(local);
  v1::ManageUsersRequest add;
  add.set_op("add");
  add.set_name(getpwuid(geteuid())->pw_name);
  add.set_role("admin");
  auto made = owner.ManageUsers(add);
  if (!made.ok()) return fail("cannot make a token: " + made.status().message());

  // The client under test: both addresses, a short deadline per call, retried until answered.
  client::ClientOptions o{.address = b.list,
                          .deadline = 30000ms,
                          .credentials = cluster::TokenSource::Fixed(made->token()),
                          .transport = *transport};
  client::CoordinatorClient watcher(o);
  if (!watcher.ListNodes().ok()) return fail("the list client gets no answer");

  int leader = 0;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> pause(0, static_cast<int>(ParseDurationMs(b.lease)));
  auto switch_over = [&](int sig, std::vector<double>* out) -> std::string {
    const int standby = 1 - leader;
    const size_t led_before = Count(Read(b.Log(standby)), "leading as term");
    // At a random point of the leader's renewal cycle (every lease/3), as a crash would be.
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
    const auto t0 = std::chrono::steady_clock::now();
    Reap(b.pid[leader], sig);
    auto answered = watcher.ListNodes();
    const auto t1 = std::chrono::steady_clock::now();
    if (!answered.ok()) return "no answer after the switch: " + answered.status().message();
    if (Count(Read(b.Log(standby)), "leading as term") != led_before + 1)
      return "the standby did not take over";
    out->push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    std::error_code ec;
    fs::remove(b.StateDir(leader) / "coordinator.addr", ec);
    const size_t stood = Count(Read(b.Log(leader)), "standby: ");
    b.Start(leader);  // again, as the standby
    if (!WaitFor([&] { return Count(Read(b.Log(leader)), "standby: ") > stood; }, 15s))
      return "the restarted coordinator did not stand by";
    leader = standby;
    return "";
  };

  std::vector<double> handover, kill;
  for (int i = 0; i < b.handovers; ++i)
    if (std::string e = switch_over(SIGTERM, &handover); !e.empty()) return fail(e);
  for (int i = 0; i < b.kills; ++i) {
    if (std::string e = switch_over(SIGKILL, &kill); !e.empty()) return fail(e);
    std::fprintf(stderr, "kill %d: %.0f ms\n", i + 1, kill.back());
  }
  for (pid_t p : b.pid) Reap(p, SIGTERM);

  const double lease_ms = static_cast<double>(ParseDurationMs(b.lease));
  std::printf("two coordinators on PostgreSQL, lease %s; time from the leader's end to the first "
              "answer through --coordinator a,b\n",
              b.lease.c_str());
  PrintDistribution("SIGTERM (resigns; baseline)", handover);
  PrintDistribution("SIGKILL (lease runs out)", kill);
  const double k50 = Percentile(kill, 0.5), h50 = Percentile(handover, 0.5);
  // The lease runs out between 2/3 of a lease and a lease after the kill (renewals every
  // lease/3); the standby takes over at its next poll (min(1 s, lease/5)) and then loads.
  std::printf("kill p50 / lease = %.2f, kill max / lease = %.2f, kill p50 / handover p50 = %.2f\n",
              k50 / lease_ms, Percentile(kill, 1) / lease_ms, h50 > 0 ? k50 / h50 : 0.0);
  std::error_code ec;
  if (b.keep)
    std::printf("logs in %s\n", b.dir.c_str());
  else
    fs::remove_all(b.dir, ec);
  return 0;
}
