// Integration: two coordinators on one PostgreSQL database (a real server this test starts), one
// leading and one standing by, with an agent and the CLI given both addresses. The leader is
// killed (-9) or frozen (SIGSTOP): the standby leads within the lease, adopts the task that was
// running (not restarted: attempt 1, one run), and takes submissions; a frozen leader that
// wakes up finds itself deposed, steps down, and its late writes are refused by the database.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/client/coordinator_client.h"
#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"
#include "cluster/store/postgres_test_server.h"
#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

constexpr const char* kLease = "2s";
constexpr auto kLeaseMs = 2000ms;

// A port nothing listens on now (bound, read and closed).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// The timestamp ("2026-12-02 14:01:31.639") of the first log line holding `what`; "~" (after
// every timestamp) when there is none.
std::string LogTime(const std::string& log, const std::string& what) {
  const size_t at = log.find(what);
  if (at == std::string::npos) return "~";
  const size_t line = log.rfind('\n', at);
  const size_t open = line == std::string::npos ? 0 : line + 1;
  const size_t close = log.find(']', open);
  if (log.compare(open, 1, "[") != 0 || close == std::string::npos || close > at) return "~";
  return log.substr(open + 1, close - open - 1);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A TCP relay on 127.0.0.1 to `target_port` that can be paused: while paused it reads nothing,
// so what either side sends waits in the kernel's buffers and arrives, late, once it goes on. A
// partition that heals, as a leader cut off from its database sees it.
class PausableRelay {
 public:
  explicit PausableRelay(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~PausableRelay() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  void Pause(bool paused) { paused_ = paused; }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in t{};
      t.sin_family = AF_INET;
      t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      t.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (::connect(server, reinterpret_cast<sockaddr*>(&t), sizeof t) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      fds_.push_back(client);
      fds_.push_back(server);
      pumps_.emplace_back([this, client, server] { Pump(client, server); });
      pumps_.emplace_back([this, client, server] { Pump(server, client); });
    }
  }
  void Pump(int from, int to) {
    char buf[16384];
    while (!stop_) {
      if (paused_) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      pollfd p{from, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::read(from, buf, sizeof buf);
      if (n <= 0) {
        ::shutdown(to, SHUT_WR);
        return;
      }
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
    }
  }

  int target_port_, listen_fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false}, paused_{false};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // the acceptor's only
  std::vector<int> fds_;            // the acceptor's only
};

// Two coordinators (c0 leads first) on one database, and one agent.
class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto bin = cluster::PostgresTestServer::FindBinaries(); !bin.ok())
      GTEST_SKIP() << bin.status().message();
    auto db = cluster::PostgresTestServer::Start();
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    char tmpl[] = "/tmp/muster-failover-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 2; ++i) {
      ports_[i] = FreePort();
      ASSERT_GT(ports_[i], 0);
    }
    list_ = Address(0) + "," + Address(1);
    relay_ = std::make_unique<PausableRelay>(db_->port());
    ASSERT_GT(relay_->port(), 0);

    ASSERT_EQ(StartCoordinator(0), "");
    ASSERT_TRUE(WaitFor([&] { return fs::exists(StateDir(0) / "coordinator.addr"); }, 15s))
        << Logs();
    // The standby shares the cluster's CA (docs/deployment.md): clients and nodes trust both.
    fs::create_directories(StateDir(1) / "tls");
    for (const char* f : {"ca.key", "ca.crt"})
      fs::copy_file(StateDir(0) / "tls" / f, StateDir(1) / "tls" / f);
    ASSERT_EQ(StartCoordinator(1), "");
    ASSERT_TRUE(WaitFor([&] { return Log(1).find("standby: ") != std::string::npos; }, 15s))
        << Logs();
    EXPECT_FALSE(fs::exists(StateDir(1) / "coordinator.addr")) << "a standby serves";

    // Tokens live in the database: both coordinators take them. Jobs run as their user: this
    // test's own.
    const passwd* me = ::getpwuid(::geteuid());
    ASSERT_NE(me, nullptr);
    admin_token_ = TokenFor(me->pw_name, "admin");
    ASSERT_FALSE(admin_token_.empty()) << Logs();
    const std::string agent_token = TokenFor("node-0", "agent");
    ASSERT_FALSE(agent_token.empty()) << Logs();
    fs::create_directories(dir_ / "node-0");
    ASSERT_TRUE(agent_.Start({MusterBinary(), "agent", "--coordinator", list_, "--name", "node-0",
                              "--work-dir", (dir_ / "node-0").string(), "--gpus", "1", "--cpus",
                              "4", "--memory", "4G", "--heartbeat", "200ms"},
                             dir_ / "agent.out", dir_ / "agent.err",
                             {{"MUSTER_TOKEN", agent_token}, {"MUSTER_CA_CERT", CaCert()},
                              {"MUSTER_STATE_DIR", "/nonexistent"}}));
    ASSERT_TRUE(WaitFor(
        [&] {
          CommandResult r = Cli({"nodes"});
          return r.exit_code == 0 && r.out.find("ready") != std::string::npos;
        },
        20s))
        << Logs();
  }

  void TearDown() override {
    if (relay_) relay_->Pause(false);
    agent_.Stop();
    for (auto& c : coordinators_) c.Stop();
    relay_.reset();
    db_.reset();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string Address(int i) const { return "127.0.0.1:" + std::to_string(ports_[i]); }
  fs::path StateDir(int i) const { return dir_ / ("c" + std::to_string(i)); }
  std::string CaCert() const { return (StateDir(0) / "tls" / "ca.crt").string(); }
  std::string Log(int i) const { return ReadFile(dir_ / ("c" + std::to_string(i) + ".err")); }
  std::string Logs() const {
    return "\n--- c0:\n" + Log(0) + "\n--- c1:\n" + Log(1) + "\n--- agent:\n" +
           ReadFile(dir_ / "agent.out") + ReadFile(dir_ / "agent.err");
  }

  std::string StartCoordinator(int i) {
    // c0 reaches the database through the relay (a link that can be cut), c1 directly.
    const std::string url = i == 0 ? "postgres://" + db_->user() + ":" + db_->password() +
                                         "@127.0.0.1:" + std::to_string(relay_->port()) + "/" +
                                         db_->database()
                                   : db_->url();
    std::vector<std::string> argv = {MusterBinary(), "coordinator", "--listen", Address(i),
                                     "--state-dir", StateDir(i).string(), "--store", url,
                                     "--leader-lease", kLease, "--heartbeat-timeout", "5s",
                                     "--lost-node-timeout", "10s", "--fence-grace", "1s"};
    if (::geteuid() == 0) argv.push_back("--allow-root-jobs");
    const std::string name = "c" + std::to_string(i);
    if (!coordinators_[i].Start(argv, dir_ / (name + ".out"), dir_ / (name + ".err")))
      return "cannot start " + name;
    return "";
  }

  // `muster COMMAND ARGS` against both coordinators, as the admin.
  CommandResult Cli(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin() + 1, {"--coordinator", list_});
    return RunMuster(args, timeout,
                     {{"MUSTER_TOKEN", admin_token_}, {"MUSTER_CA_CERT", CaCert()},
                      {"MUSTER_STATE_DIR", "/nonexistent"}});
  }

  // A new user's token, made through c0's local socket by its owner.
  std::string TokenFor(const std::string& name, const std::string& role) {
    CommandResult r =
        RunMuster({"admin", "user", "add", name, "--role", role, "-q", "--coordinator",
                   Address(0), "--state-dir", StateDir(0).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string token = r.out.substr(0, r.out.find('\n'));
    return r.exit_code == 0 ? token : "";
  }

  int64_t Submit(const std::vector<std::string>& command) {
    std::vector<std::string> args = {"submit", "-q", "--"};
    args.insert(args.end(), command.begin(), command.end());
    CommandResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err << Logs();
    return r.exit_code == 0 ? std::stoll(r.out) : 0;
  }

  // The job's state and its first task's attempt, from `muster show -o json`.
  std::pair<std::string, int> StateOf(int64_t id) {
    CommandResult r = Cli({"show", std::to_string(id), "-o", "json"});
    if (r.exit_code != 0) return {"(" + r.err + ")", 0};
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return {"(not json)", 0};
    int attempt = 0;
    if (j.contains("tasks") && !j["tasks"].empty())
      attempt = j["tasks"][0].value("attempt", 0);
    return {j.value("state", ""), attempt};
  }

  bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return done();
  }

  std::unique_ptr<cluster::PostgresTestServer> db_;
  std::unique_ptr<PausableRelay> relay_;
  fs::path dir_;
  int ports_[2] = {0, 0};
  std::string list_, admin_token_;
  Process coordinators_[2];
  Process agent_;
};

TEST_F(FailoverTest, AStandbyTellsAClientGivenOnlyItsAddressWhoLeads) {
  CommandResult r = RunMuster({"queue", "--coordinator", Address(1)}, 30s,
                              {{"MUSTER_TOKEN", admin_token_}, {"MUSTER_CA_CERT", CaCert()},
                               {"MUSTER_STATE_DIR", "/nonexistent"}});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("the coordinator at " + Address(1) + ": this coordinator stands by; "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(term 1) at " + Address(0) + " leads"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(FailoverTest, KillingTheLeaderHandsOverToTheStandbyWhichAdoptsTheRunningTask) {
  const fs::path marker = dir_ / "runs";
  const int64_t id = Submit({"sh", "-c", "echo run >> " + marker.string() + "; sleep 6"});
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "running"; }, 20s))
      << Cli({"show", std::to_string(id)}).out << Logs();
  const int64_t before = Submit({"true"});
  ASSERT_TRUE(WaitFor([&] { return StateOf(before).first == "succeeded"; }, 20s)) << Logs();

  coordinators_[0].Signal(SIGKILL);
  ASSERT_TRUE(coordinators_[0].Wait(10s).has_value());
  const auto killed = std::chrono::steady_clock::now();
  // The CLI, given both addresses, finds the new leader by itself.
  CommandResult queue = Cli({"queue", "-a"});
  const auto answered = std::chrono::steady_clock::now();
  ASSERT_EQ(queue.exit_code, 0) << queue.err << Logs();
  EXPECT_NE(queue.out.find(std::to_string(id)), std::string::npos) << queue.out;
  const auto failover =
      std::chrono::duration_cast<std::chrono::milliseconds>(answered - killed);
  // Within the lease, a standby's poll (lease/5) and the start of its server.
  EXPECT_LT(failover, kLeaseMs + 3s) << "failover took " << failover.count() << " ms";
  EXPECT_NE(Log(1).find("leading as term 2"), std::string::npos) << Logs();

  // The running task is adopted, not restarted: one run, attempt 1, and it succeeds.
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "succeeded"; }, 30s)) << Logs();
  EXPECT_EQ(StateOf(id).second, 1) << Logs();
  EXPECT_EQ(ReadFile(marker), "run\n") << "the task ran more than once" << Logs();
  EXPECT_EQ(StateOf(before).first, "succeeded");
  // New work goes on, with a new id.
  const int64_t after = Submit({"true"});
  EXPECT_GT(after, before);
  EXPECT_TRUE(WaitFor([&] { return StateOf(after).first == "succeeded"; }, 20s)) << Logs();
}

TEST_F(FailoverTest, KillingTheLeaderDuring1000SubmissionsLosesNoneAndRunsEachOnce) {
  auto transport = cluster::ResolveClientTransport(StateDir(0).string(), CaCert());
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();
  client::ClientOptions o{.address = list_,
                          .deadline = 10000ms,
                          .credentials = cluster::TokenSource::Fixed(admin_token_),
                          .transport = *transport};
  client::CoordinatorClient client(o);
  const fs::path runs = dir_ / "runs";  // a file per job, a line per run
  fs::create_directories(runs);
  constexpr int kJobs = 1000;
  std::vector<int64_t> acked;
  std::vector<std::string> errors;
  std::atomic<int> done{0};
  std::thread submitter([&] {
    for (int i = 0; i < kJobs; ++i) {
      v1::JobSpec spec;
      for (const char* a : {"sh", "-c", "echo $MUSTER_ATTEMPT >> \"$0/$MUSTER_JOB_ID\""})
        spec.add_command(a);
      spec.add_command(runs.string());
      spec.set_workdir("/tmp");
      spec.mutable_resources()->set_milli_cpus(100);
      auto id = client.Submit(spec);  // retried on the next coordinator when its leader dies
      if (id.ok())
        acked.push_back(*id);
      else
        errors.push_back(id.status().message());
      done.store(i + 1);
    }
  });
  const bool started = WaitFor([&] { return done.load() >= kJobs / 3; }, 60s);
  if (started) coordinators_[0].Signal(SIGKILL);
  submitter.join();
  ASSERT_TRUE(started) << Logs();
  // Every submission was acknowledged: those in flight at the kill were sent again to the new
  // leader, with their request ids, and none was made twice.
  EXPECT_TRUE(errors.empty()) << errors.size() << " failed, the first: " << errors.front();
  std::set<int64_t> ids(acked.begin(), acked.end());
  EXPECT_EQ(ids.size(), acked.size()) << "an id was acknowledged twice";
  EXPECT_EQ(acked.size(), static_cast<size_t>(kJobs));
  EXPECT_NE(Log(1).find("leading as term 2"), std::string::npos) << Logs();

  v1::ListJobsRequest all;
  all.set_include_finished(true);
  all.set_with_tasks(true);
  v1::JobList jobs;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = client.ListJobs(all);
        if (!r.ok()) return false;
        jobs = *r;
        for (const auto& j : jobs.jobs())
          if (j.state() != v1::JOB_STATE_SUCCEEDED) return false;
        return jobs.jobs_size() >= kJobs;
      },
      120s))
      << jobs.jobs_size() << " jobs" << Logs();
  // Exactly the acknowledged jobs exist (no second job for a retried submission), and each ran
  // once. (A launch the old leader sent that never reached the node is made again as attempt 2:
  // that is one run too.)
  std::set<int64_t> stored;
  std::string twice;
  for (const auto& j : jobs.jobs()) {
    stored.insert(j.job_id());
    const std::string lines = ReadFile(runs / std::to_string(j.job_id()));
    if (Count(lines, "\n") != 1) twice += " job " + std::to_string(j.job_id()) + ": " + lines;
  }
  EXPECT_EQ(stored, ids);
  EXPECT_EQ(twice, "") << "ran other than once (attempts per line)";
}

TEST_F(FailoverTest, AFrozenLeaderIsDeposedItsLateWritesAreRefusedAndItStandsBy) {
  const fs::path marker = dir_ / "runs";
  const int64_t id = Submit({"sh", "-c", "echo run >> " + marker.string() + "; sleep 8"});
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "running"; }, 20s)) << Logs();

  coordinators_[0].Signal(SIGSTOP);  // a paused VM: its lease runs out, but it does not know
  ASSERT_TRUE(WaitFor([&] { return Log(1).find("leading as term 2") != std::string::npos; },
                      kLeaseMs + 5s))
      << Logs();
  // The agent's link to the frozen leader stays open (its kernel answers): the agent leaves it
  // after half its node lease without an answer, goes to the new leader, and the task runs on.
  // It stays frozen for longer than the node lease (5 s), until the task has ended.
  const int64_t during = Submit({"true"});
  ASSERT_GT(during, 0);
  EXPECT_TRUE(WaitFor([&] { return StateOf(during).first == "succeeded"; }, 20s)) << Logs();
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "succeeded"; }, 30s)) << Logs();
  EXPECT_EQ(StateOf(id).second, 1) << Logs();
  EXPECT_EQ(ReadFile(marker), "run\n") << "the task ran more than once" << Logs();
  EXPECT_NE(ReadFile(dir_ / "agent.out").find("has not answered for"), std::string::npos)
      << Logs();

  coordinators_[0].Signal(SIGCONT);
  // It finds itself deposed (its renewal is refused) and stops serving.
  ASSERT_TRUE(WaitFor([&] { return Log(0).find("stepping down") != std::string::npos; }, 10s))
      << Logs();
  EXPECT_TRUE(WaitFor([&] { return Log(0).find("standby: ") != std::string::npos; }, 10s))
      << Logs();
  EXPECT_EQ(Count(Log(0), "leading as term"), 1u) << "the deposed leader led again" << Logs();
  // What it did on waking (its node looked silent to it: a requeue) never reached the database:
  // the task keeps its first attempt, and ran once.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(StateOf(id), std::make_pair(std::string("succeeded"), 1)) << Logs();
  EXPECT_EQ(ReadFile(marker), "run\n") << "the task ran more than once" << Logs();
  // The database says who leads: c1, term 2.
  auto holder = db_->QueryValue("SELECT term FROM leader");
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  EXPECT_EQ(*holder, "2");
}

TEST_F(FailoverTest, ALeaderCutOffFromTheDatabaseStepsDownAndItsLateWriteIsNotStored) {
  const fs::path marker = dir_ / "runs";
  const int64_t id = Submit({"sh", "-c", "echo run >> " + marker.string() + "; sleep 8"});
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "running"; }, 20s)) << Logs();

  // A client of c0 alone, its channel connected before the cut, so that its submission reaches
  // c0 at once, while c0 still believes it leads (it steps down at least 3/4 of a lease after
  // its last renewal, 2/3 of a lease from now at the earliest).
  auto transport = cluster::ResolveClientTransport(StateDir(0).string(), CaCert());
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();
  client::CoordinatorClient c0({.address = Address(0),
                                .deadline = 40000ms,
                                .credentials = cluster::TokenSource::Fixed(admin_token_),
                                .transport = *transport});
  ASSERT_TRUE(c0.GetJob(id).ok());
  relay_->Pause(true);  // c0's link to the database goes silent: no error, no answer
  const auto cut = std::chrono::steady_clock::now();
  // Its write waits in the link.
  Result<int64_t> late = Status::Internal("not answered");
  std::thread submitter([&] {
    v1::JobSpec spec;
    spec.add_command("true");
    spec.set_workdir("/tmp");
    late = c0.Submit(spec);
  });
  ASSERT_TRUE(WaitFor([&] { return Log(0).find("stepping down") != std::string::npos; }, 10s))
      << Logs();
  ASSERT_TRUE(WaitFor([&] { return Log(1).find("leading as term 2") != std::string::npos; },
                      kLeaseMs + 5s))
      << Logs();
  // It had stopped serving before the standby took over (the logs' clocks are this machine's).
  EXPECT_LT(LogTime(Log(0), "stepping down"), LogTime(Log(1), "leading as term 2")) << Logs();
  EXPECT_LT(std::chrono::steady_clock::now() - cut, kLeaseMs + 5s);
  relay_->Pause(false);  // the partition heals: c0's batch reaches the database, late
  submitter.join();
  // The client was cut off when c0 stepped down, and the database did not take the write: the
  // fence refused it ("deposed"), or the server had already ended c0's session, left inside the
  // transaction for half a lease.
  EXPECT_FALSE(late.ok()) << *late;
  EXPECT_TRUE(WaitFor([&] { return Log(0).find("not stored: ") != std::string::npos; }, 10s))
      << Logs();
  auto stored = db_->QueryValue("SELECT count(*) FROM jobs");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(*stored, "1") << "the deposed leader's write was stored";
  // c1 adopted the running task: it ran once, as attempt 1.
  ASSERT_TRUE(WaitFor([&] { return StateOf(id).first == "succeeded"; }, 30s)) << Logs();
  EXPECT_EQ(StateOf(id).second, 1) << Logs();
  EXPECT_EQ(ReadFile(marker), "run\n") << "the task ran more than once" << Logs();
}

TEST_F(FailoverTest, ALeaderThatLosesTheDatabaseStepsDownAndOneLeadsAgainWhenItIsBack) {
  const int64_t before = Submit({"true"});
  ASSERT_TRUE(WaitFor([&] { return StateOf(before).first == "succeeded"; }, 20s)) << Logs();
  ASSERT_TRUE(db_->Kill().ok());
  const auto cut = std::chrono::steady_clock::now();
  // No renewal for 3/4 of the lease: it stops serving, since a standby that still reached the
  // database could lead by then.
  ASSERT_TRUE(WaitFor([&] { return Log(0).find("stepping down") != std::string::npos; }, 10s))
      << Logs();
  EXPECT_LT(std::chrono::steady_clock::now() - cut, kLeaseMs + 1s);
  CommandResult refused = Cli({"queue"}, 40s);  // it tries for two deadlines (2 x 10 s)
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("cannot reach a leading coordinator at any of " + list_),
            std::string::npos)
      << refused.err;

  ASSERT_TRUE(db_->Restart().ok());
  const int64_t after = Submit({"true"});  // the CLI waits for a leader, up to its deadline
  ASSERT_GT(after, before);
  EXPECT_TRUE(WaitFor([&] { return StateOf(after).first == "succeeded"; }, 20s)) << Logs();
  EXPECT_EQ(StateOf(before).first, "succeeded");
  auto term = db_->QueryValue("SELECT term FROM leader");
  ASSERT_TRUE(term.ok()) << term.status().ToString();
  EXPECT_EQ(*term, "2");
}

}  // namespace
}  // namespace muster::testing
