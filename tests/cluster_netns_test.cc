// Multi-host, in network namespaces: the coordinator on one "host" (10.213.0.1), an agent on
// another (10.213.0.2), joined over TLS with the agent's token, running a user's job as that user;
// then the agent's host is cut off the network and healed. Then the cluster harness on network
// hosts: slow links, and a gang with one node partitioned. Needs root and iproute2: skipped
// otherwise. Every namespace is deleted at the end, whatever happened (netns.h).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/helpers/netns.h"

namespace muster::testing {
namespace {

class ClusterNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!net_.ok()) GTEST_SKIP() << net_.error();
    char templ[] = "/tmp/muster-netns-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    state_ = dir_ / "state";
    coordinator_addr_ = net_.address(0) + ":7070";
    ASSERT_TRUE(coordinator_.Start(
        net_.In(0, {MusterBinary(), "coordinator", "--listen", coordinator_addr_, "--state-dir",
                    state_.string(), "--allow-root-jobs", "--heartbeat-timeout", "2s",
                    "--fence-grace", "1s", "--lost-node-timeout", "3s"}),
        dir_ / "coordinator.out", dir_ / "coordinator.err"));
    for (int i = 0; i < 300 && ReadFile(state_ / "coordinator.addr").empty(); ++i)
      std::this_thread::sleep_for(20ms);
    ASSERT_FALSE(ReadFile(state_ / "coordinator.addr").empty()) << Logs();
  }
  void TearDown() override {
    agent_.Stop(3s);
    coordinator_.Stop(3s);
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // The owner of the coordinator, on its host, through the local socket.
  CommandResult Owner(std::vector<std::string> args) {
    args.insert(args.end(), {"--coordinator", coordinator_addr_});
    std::vector<std::string> argv = {MusterBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(net_.In(0, argv), 20s, {{"MUSTER_STATE_DIR", state_.string()}});
  }
  // Someone on the agent's host with `env` (a token, a CA file).
  CommandResult Remote(std::vector<std::string> args, std::map<std::string, std::string> env) {
    std::vector<std::string> argv = {MusterBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    env.emplace("MUSTER_STATE_DIR", "/nonexistent");
    env.emplace("MUSTER_COORDINATOR", coordinator_addr_);
    return RunCommand(net_.In(1, argv), 30s, env);
  }
  std::string NodeState(const std::string& name) {
    CommandResult r = Owner({"nodes", "-o", "json"});
    if (r.exit_code != 0) return "error: " + r.err;
    auto nodes = nlohmann::json::parse(r.out);
    for (const auto& n : nodes)
      if (n["name"] == name) return n["state"];
    return "absent";
  }
  bool WaitNodeState(const std::string& name, const std::string& want,
                     std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (NodeState(name) == want) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  std::string Logs() {
    return "\ncoordinator: " + ReadFile(dir_ / "coordinator.err") +
           "\nagent: " + ReadFile(dir_ / "agent.out") + ReadFile(dir_ / "agent.err");
  }

  NetworkHosts net_{2};
  fs::path dir_, state_;
  std::string coordinator_addr_;
  Process coordinator_, agent_;
};

TEST_F(ClusterNetns, AnAgentOnAnotherHostJoinsOverTlsAndRunsAUsersJobAsThatUser) {
  // The owner makes the node's token and a user's; the agent gets its token and the CA cert.
  CommandResult node = Owner({"admin", "user", "add", "node-a", "--role", "agent", "-q"});
  ASSERT_EQ(node.exit_code, 0) << node.err << Logs();
  CommandResult user = Owner({"admin", "user", "add", "nobody", "--role", "user", "-q"});
  ASSERT_EQ(user.exit_code, 0) << user.err;
  const std::string user_token = user.out.substr(0, user.out.find('\n'));
  const fs::path token_file = dir_ / "node-a.token";
  {
    std::ofstream out(token_file);
    out << node.out;
  }
  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  const std::string ca = (state_ / "tls" / "ca.crt").string();
  ASSERT_TRUE(agent_.Start(
      net_.In(1, {MusterBinary(), "agent", "--coordinator", coordinator_addr_, "--name", "node-a",
                  "--work-dir", (dir_ / "node-a").string(), "--gpus", "1", "--cpus", "2",
                  "--memory", "2G", "--heartbeat", "200ms", "--ca-file", ca, "--token-file",
                  token_file.string()}),
      dir_ / "agent.out", dir_ / "agent.err", {{"MUSTER_STATE_DIR", "/nonexistent"}}));
  ASSERT_TRUE(WaitNodeState("node-a", "ready", 20s)) << Logs();

  // Its token names one node: it cannot be used to register another.
  CommandResult imposter = RunCommand(
      net_.In(1, {MusterBinary(), "agent", "--coordinator", coordinator_addr_, "--name", "node-b",
                  "--work-dir", (dir_ / "node-b").string(), "--gpus", "1", "--ca-file", ca,
                  "--token-file", token_file.string()}),
      20s);
  EXPECT_EQ(imposter.exit_code, 1) << imposter.out << imposter.err;
  EXPECT_NE(imposter.err.find("credential is for node node-a, not node-b"), std::string::npos)
      << imposter.err;

  // A user on the agent's host, with a token and the CA: the job runs there, as that user.
  const std::map<std::string, std::string> env = {{"MUSTER_TOKEN", user_token},
                                                  {"MUSTER_CA_CERT", ca}};
  CommandResult who = Remote({"whoami"}, env);
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("nobody (user, token)"), std::string::npos) << who.out;
  CommandResult run =
      Remote({"submit", "-q", "--wait", "--workdir", "/tmp", "--", "/bin/sh", "-c",
              "id -u; cat /proc/net/fib_trie | grep -c " + net_.address(1)},
             env);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << Logs();
  const std::string id = run.out.substr(0, run.out.find('\n'));
  CommandResult out = Remote({"logs", id}, env);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out.substr(0, out.out.find('\n')), "65534") << out.out;  // nobody's uid
  EXPECT_NE(out.out.find('\n'), std::string::npos);
  EXPECT_NE(std::stoi(out.out.substr(out.out.find('\n') + 1)), 0)  // in the agent's namespace
      << out.out;

  // Without the CA nothing is sent; plaintext to another host is refused before anything is.
  CommandResult blind = Remote({"queue"}, {{"MUSTER_TOKEN", user_token}});
  EXPECT_EQ(blind.exit_code, 3) << blind.err;
  CommandResult plain = Remote({"queue", "--insecure"}, {{"MUSTER_TOKEN", user_token}});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("plaintext only to a loopback address"), std::string::npos)
      << plain.err;

  // Cut the agent's host off: the coordinator stops counting on it; heal: it is back.
  ASSERT_TRUE(net_.Cut(1)) << net_.error();
  EXPECT_TRUE(WaitNodeState("node-a", "lost", 20s)) << NodeState("node-a") << Logs();
  ASSERT_TRUE(net_.Heal(1)) << net_.error();
  EXPECT_TRUE(WaitNodeState("node-a", "ready", 30s)) << NodeState("node-a") << Logs();

  // The audit log saw the remote user, the agent and the imposter.
  CommandResult audit = Owner({"admin", "audit", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("\"identity\": \"nobody\""), std::string::npos);
  EXPECT_NE(audit.out.find("credential is for node node-a, not node-b"), std::string::npos);
  EXPECT_NE(audit.out.find(net_.address(1)), std::string::npos);  // peers from the other host
}

TEST_F(ClusterNetns, ANodeJoinsWithAOneTimeTokenAndCanBeRevoked) {
  CommandResult made = Owner({"admin", "join-token", "--node", "node-j", "--ttl", "10m"});
  ASSERT_EQ(made.exit_code, 0) << made.err << Logs();
  const std::string token = made.out.substr(0, made.out.find('\n'));
  ASSERT_EQ(token.rfind("mstj_", 0), 0u) << made.out;
  auto agent_argv = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> argv = {MusterBinary(), "agent", "--coordinator", coordinator_addr_,
                                     "--name", name, "--work-dir", (dir_ / name).string(),
                                     "--gpus", "1", "--cpus", "2", "--memory", "2G",
                                     "--heartbeat", "200ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return net_.In(1, argv);
  };
  // Only the token: no CA file, no other credential. The node checks the coordinator by the
  // CA fingerprint in the token and comes back with its own certificate.
  ASSERT_TRUE(agent_.Start(agent_argv("node-j", {"--join", token}), dir_ / "agent.out",
                           dir_ / "agent.err", {{"MUSTER_STATE_DIR", "/nonexistent"}}));
  ASSERT_TRUE(WaitNodeState("node-j", "ready", 20s)) << Logs();
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "node-j" / "tls" / "node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult job = Owner({"submit", "-q", "--wait", "--workdir", "/tmp", "--", "/bin/true"});
  EXPECT_EQ(job.exit_code, 0) << job.err << Logs();

  // The token works once; a token of another cluster (wrong fingerprint) is caught before any
  // secret is sent.
  CommandResult again = RunCommand(agent_argv("node-k", {"--join", token}), 30s,
                                   {{"MUSTER_STATE_DIR", "/nonexistent"}});
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  EXPECT_NE(again.err.find("unknown join token"), std::string::npos) << again.err;
  std::string forged = token.substr(0, token.find('.') + 1) + std::string(64, 'a');
  CommandResult wrong = RunCommand(agent_argv("node-k", {"--join", forged}), 30s,
                                   {{"MUSTER_STATE_DIR", "/nonexistent"}});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.err;
  EXPECT_NE(wrong.err.find("no certificate with the join token's CA fingerprint"),
            std::string::npos)
      << wrong.err;

  // A restart needs no token: the saved certificate is used, and renewed when it is due (here:
  // at once, since it expires within 100 days).
  const std::string first_cert = ReadFile(dir_ / "node-j" / "tls" / "node.crt");
  agent_.Stop(5s);
  ASSERT_TRUE(agent_.Start(agent_argv("node-j", {"--renew-before", "100d"}), dir_ / "agent.out",
                           dir_ / "agent.err", {{"MUSTER_STATE_DIR", "/nonexistent"}}));
  ASSERT_TRUE(WaitNodeState("node-j", "ready", 20s)) << Logs();
  EXPECT_NE(ReadFile(dir_ / "node-j" / "tls" / "node.crt"), first_cert);
  CommandResult who = Owner({"admin", "audit", "-o", "json"});
  EXPECT_NE(who.out.find("\"via\": \"certificate\""), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("\"action\": \"renew\""), std::string::npos) << who.out;

  // Revoked: cut off at once and refused afterwards.
  CommandResult revoke = Owner({"admin", "revoke-node", "node-j"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_TRUE(WaitNodeState("node-j", "lost", 20s)) << NodeState("node-j") << Logs();
  // Its attempts to come back are refused (and audited).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  CommandResult audit;
  do {
    std::this_thread::sleep_for(300ms);
    audit = Owner({"admin", "audit", "-o", "json"});
  } while (audit.out.find("was revoked or replaced") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(audit.out.find("certificate of node-j was revoked or replaced"),
            std::string::npos)
      << audit.out;
}

// ---------------------------------------------------------------- TestCluster on network hosts

// record lines: "start <attempt> <step> <ns>" and "tick <attempt> <step> <ns>"
struct RankAttempt {
  int64_t start_ns = 0, last_ns = 0;
  int first_step = -1, last_step = 0;
};

std::map<int64_t, RankAttempt> ReadRankRecord(const fs::path& p) {
  std::map<int64_t, RankAttempt> out;
  std::ifstream in(p);
  std::string kind;
  int64_t attempt = 0, ns = 0;
  int step = 0;
  while (in >> kind >> attempt >> step >> ns) {
    RankAttempt& a = out[attempt];
    if (kind == "start") {
      a.start_ns = ns;
      a.first_step = step;
    }
    a.last_ns = std::max(a.last_ns, ns);
    a.last_step = std::max(a.last_step, step);
  }
  return out;
}

TEST(ClusterOnNetworkHosts, AJobRunsAndANodeWithSlowLinksStaysReady) {
  TestCluster cluster({.agents = 2, .gpus_per_agent = 0, .cpus_per_agent = 2,
                       .network_hosts = true});
  if (!cluster.network_error().empty()) GTEST_SKIP() << cluster.network_error();
  ASSERT_EQ(cluster.Start(), "");
  // Each agent reports the address of its own host.
  auto nodes = cluster.client().ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().message();
  std::set<std::string> addresses;
  for (const auto& n : nodes->nodes()) addresses.insert(n.spec().address());
  EXPECT_EQ(addresses, (std::set<std::string>{"10.213.0.2", "10.213.0.3"}));
  // 300 ms each way on every link: slower, nothing lost.
  cluster.SetAgentLatency(0, 300);
  cluster.SetAgentLatency(1, 300);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t id = cluster.Submit({"--tasks", "4", "--cpus", "1", "--", "/bin/sh", "-c",
                                     "echo rank $MUSTER_TASK_INDEX"});
  ASSERT_GT(id, 0);
  v1::JobInfo job = cluster.WaitForJob(id, 60s);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason() << cluster.LogTails();
  // A launch and its end each cross a link: at least 600 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 600ms);
  for (const auto& t : job.tasks()) EXPECT_EQ(t.attempt(), 1) << "task " << t.index();
  std::this_thread::sleep_for(3s);  // longer than the lease: heartbeats still renew it
  EXPECT_TRUE(cluster.WaitForReadyNodes(2, 1s));
  CommandResult logs = cluster.Muster({"logs", std::to_string(id) + ".3"});
  EXPECT_EQ(logs.out, "rank 3\n") << logs.err;
}

// A 2-rank checkpointable gang, one rank per node; one node is cut off the network. Its rank is
// stopped on the node when the lease runs out, the other by the coordinator; then the gang starts
// again, whole, on the nodes left, from its checkpoint; no attempt of the new start overlaps any
// of the old.
TEST(ClusterOnNetworkHosts, AGangWithOnePartitionedNodeIsRestartedWholeFromItsCheckpoint) {
  TestCluster cluster({.agents = 3, .gpus_per_agent = 0, .cpus_per_agent = 1,
                       .network_hosts = true});
  if (!cluster.network_error().empty()) GTEST_SKIP() << cluster.network_error();
  ASSERT_EQ(cluster.Start(), "");
  const fs::path rec = cluster.dir() / "records";
  fs::create_directories(rec);
  v1::JobSpec spec;
  spec.set_name("gang-ckpt");
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  const std::string f = (rec / "$MUSTER_TASK_INDEX").string();
  std::string script = "c=$MUSTER_CHECKPOINT_DIR/r$MUSTER_TASK_INDEX; mkdir -p $c; step=0; ";
  script += "last=$(ls $c | grep -E '^[0-9]+\\.[0-9]+$' | sort -t. -k1,1n -k2,2n | tail -1); ";
  script += "if [ -n \"$last\" ]; then step=$(cat $c/$last); fi; ";
  script += "echo start $MUSTER_ATTEMPT $step $(date +%s%N) >> " + f + "; ";
  script += "while [ $step -lt 80 ]; do sleep 0.1; step=$((step+1)); ";
  script += "echo tick $MUSTER_ATTEMPT $step $(date +%s%N) >> " + f + "; ";
  script += "if [ $((step % 5)) -eq 0 ]; then echo $step > $c/.tmp && mv $c/.tmp ";
  script += "$c/$MUSTER_ATTEMPT.$step; fi; done";
  spec.add_command(script);
  spec.set_workdir(rec.string());
  spec.set_tasks(2);
  spec.set_gang(true);
  spec.set_checkpointable(true);
  spec.set_max_retries(5);
  spec.mutable_resources()->set_milli_cpus(1000);  // one rank per node
  spec.mutable_resources()->set_memory_mib(32);
  auto id = cluster.client().Submit(spec);
  ASSERT_TRUE(id.ok()) << id.status().message();
  // Both ranks well past their first checkpoint.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         (ReadRankRecord(rec / "0")[1].last_step < 12 || ReadRankRecord(rec / "1")[1].last_step < 12))
    std::this_thread::sleep_for(100ms);
  auto job = cluster.client().GetJob(*id);
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->tasks_size(), 2);
  ASSERT_EQ(job->tasks(1).state(), v1::TASK_STATE_RUNNING) << cluster.LogTails();
  const std::string cut_node = job->tasks(1).node();
  ASSERT_NE(cut_node, job->tasks(0).node());
  const int cut = std::stoi(cut_node.substr(cut_node.find('-') + 1));
  ASSERT_TRUE(cluster.CutAgent(cut));
  v1::JobInfo done = cluster.WaitForJob(*id, 90s);
  ASSERT_TRUE(cluster.HealAgent(cut));
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.reason() << cluster.LogTails();
  const auto r0 = ReadRankRecord(rec / "0"), r1 = ReadRankRecord(rec / "1");
  ASSERT_TRUE(r0.contains(1) && r1.contains(1));
  // The gang started again as a whole: a later attempt of each rank, and every rank of it began
  // after every rank of the first had stopped.
  int64_t first_end = std::max(r0.at(1).last_ns, r1.at(1).last_ns);
  for (const auto* r : {&r0, &r1}) {
    ASSERT_GE(r->size(), 2u) << "a rank was not restarted";
    for (const auto& [attempt, a] : *r)
      if (attempt > 1) {
        EXPECT_GT(a.start_ns, first_end) << "attempt " << attempt << " overlapped attempt 1";
        // ... from the checkpoint, not from the start.
        EXPECT_GE(a.first_step, 10) << "attempt " << attempt;
      }
  }
  for (const auto* r : {&r0, &r1})
    if (r->size() >= 2)
      std::printf("rank %d: attempt 1 stopped at step %d; attempt %lld began %.1f s later at step "
                  "%d\n",
                  r == &r0 ? 0 : 1, r->at(1).last_step,
                  static_cast<long long>(r->rbegin()->first),
                  static_cast<double>(r->rbegin()->second.start_ns - first_end) / 1e9,
                  r->rbegin()->second.first_step);
  for (const auto& t : done.tasks()) {
    EXPECT_GE(t.attempt(), 2) << "task " << t.index();
    EXPECT_NE(t.node(), cut_node) << "task " << t.index();
  }
}

}  // namespace
}  // namespace muster::testing
