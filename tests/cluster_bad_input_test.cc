// Integration: bad input never crashes anything and always gets one clear line and the
// documented exit code — malformed flags (2), bad YAML (2), unknown ids (4), an infeasible
// request (5, naming the largest node), garbage bytes on the coordinator's port, a duplicate
// agent name, and an unreachable coordinator (3).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

int CountLines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// Exactly one line on stderr, starting with "muster: ", and nothing on stdout.
void ExpectOneErrorLine(const CommandResult& r) {
  EXPECT_EQ(CountLines(r.err), 1) << r.err;
  EXPECT_TRUE(r.err.starts_with("muster: ")) << r.err;
  EXPECT_EQ(r.out, "");
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Mistakes on the command line name the unknown flag or command, with the closest valid one;
// nothing is sent anywhere.
TEST(CommandLine, UnknownFlagsAndCommandsGetTheClosestValidOne) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"submit", "--gpu", "1", "--", "sleep", "1"},
       "muster: submit has no flag --gpu; did you mean --gpus? (see muster submit --help)\n"},
      {{"sumbit", "--", "true"},
       "muster: unknown command 'sumbit'; did you mean submit? (see muster --help)\n"},
      {{"admin", "user", "ad", "bob"},
       "muster: unknown command 'admin user ad'; did you mean add? (see muster admin user "
       "--help)\n"},
      {{"queue", "--frobnicate"}, "muster: queue has no flag --frobnicate (see muster queue --help)\n"},
  };
  for (const auto& [args, want] : cases) {
    CommandResult r = RunMuster(args, 20s, {{"MUSTER_COORDINATOR", "127.0.0.1:1"}});
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_EQ(r.err, want);
  }
}

TEST(ClusterUnreachable, OneLineAndExitThree) {
  const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
  const std::string expected =
      "muster: cannot reach the coordinator at " + addr +
      " (is `muster up` running? set --coordinator or MUSTER_COORDINATOR)\n";
  for (auto args :
       std::vector<std::vector<std::string>>{{"queue", "--coordinator", addr},
                                             {"show", "1", "--coordinator", addr},
                                             {"cancel", "1", "--coordinator", addr},
                                             {"logs", "1", "-f", "--coordinator", addr},
                                             {"nodes", "--coordinator", addr},
                                             {"submit", "--coordinator", addr, "--", "true"}}) {
    auto start = std::chrono::steady_clock::now();
    CommandResult r = RunMuster(args, 20s, {{"MUSTER_INSECURE", "1"}});
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_EQ(r.err, expected) << args[0];
    EXPECT_EQ(r.out, "");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 12s) << args[0] << " took too long";
  }
  // The environment variable is honoured too.
  CommandResult env =
      RunMuster({"queue"}, 20s, {{"MUSTER_COORDINATOR", addr}, {"MUSTER_INSECURE", "1"}});
  EXPECT_EQ(env.exit_code, 3);
  EXPECT_EQ(env.err, expected);
  // Without a CA certificate to check the coordinator with, nothing is sent: one line, exit 3.
  CommandResult no_ca = RunMuster({"queue", "--coordinator", addr}, 20s,
                                  {{"MUSTER_STATE_DIR", "/nonexistent"}, {"HOME", "/nonexistent"}});
  EXPECT_EQ(no_ca.exit_code, 3) << no_ca.err;
  EXPECT_EQ(no_ca.err.rfind("muster: no CA certificate to check the coordinator with", 0), 0u)
      << no_ca.err;
}

class ClusterBadInput : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cluster_.Start(), ""); }

  // No job was created by the bad requests.
  void ExpectNoJobs() {
    CommandResult q = cluster_.Muster({"queue", "--all", "-o", "json"});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    EXPECT_EQ(nlohmann::json::parse(q.out).size(), 0u) << q.out;
  }

  TestCluster cluster_{ClusterOptions{
      .agents = 2, .gpus_per_agent = 2, .cpus_per_agent = 4, .coordinator_args = {}}};
};

TEST_F(ClusterBadInput, MalformedFlagsAreUsageErrors) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"submit", "--tasks", "abc", "--", "true"},
           {"submit", "--cpus", "-1", "--", "true"},
           {"submit", "--mem", "12parsecs", "--", "true"},
           {"submit", "--array", "9-3", "--", "true"},
           {"submit", "--after", "x", "--", "true"},
           {"submit", "--env", "NOEQUALS", "--", "true"},
           {"submit", "--est-time", "soon", "--", "true"},
           {"submit", "--tasks", "2", "--array", "0-3", "--", "true"},
           {"submit", "--gang", "--no-gang", "--", "true"},
           {"submit"},
           {"show", "abc"},
           {"cancel", "1", "x2"},
           {"logs", "1.x"}}) {
    CommandResult r = cluster_.Muster(args);
    EXPECT_EQ(r.exit_code, 2) << args[1] << " " << r.err;
    ExpectOneErrorLine(r);
  }
  // CLI11 parse errors (unknown flag, bad choice) are usage errors as well.
  EXPECT_EQ(cluster_.Muster({"queue", "-o", "xml"}).exit_code, 2);
  EXPECT_EQ(cluster_.Muster({"submit", "--frobnicate", "--", "true"}).exit_code, 2);
  ExpectNoJobs();
}

TEST_F(ClusterBadInput, BadYamlNamesTheKey) {
  fs::path dir = cluster_.dir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  CommandResult unknown =
      cluster_.Muster({"submit", "-f", write("a.yaml", "command: [true]\ngpuz: 1\n")});
  EXPECT_EQ(unknown.exit_code, 2);
  ExpectOneErrorLine(unknown);
  EXPECT_NE(unknown.err.find("'gpuz'"), std::string::npos) << unknown.err;

  CommandResult value =
      cluster_.Muster({"submit", "-f", write("b.yaml", "command: [true]\nmem: lots\n")});
  EXPECT_EQ(value.exit_code, 2);
  ExpectOneErrorLine(value);
  EXPECT_NE(value.err.find("'mem'"), std::string::npos) << value.err;

  CommandResult syntax =
      cluster_.Muster({"submit", "-f", write("c.yaml", "command: [true\n  x: {\n")});
  EXPECT_EQ(syntax.exit_code, 2);
  ExpectOneErrorLine(syntax);

  CommandResult binary =
      cluster_.Muster({"submit", "-f", write("d.yaml", std::string("\x01\xff\x00zz", 5))});
  EXPECT_EQ(binary.exit_code, 2);
  ExpectOneErrorLine(binary);

  // A good file, with a flag overriding one of its fields.
  CommandResult good = cluster_.Muster(
      {"submit", "-q", "-f", write("e.yaml", "name: from-file\ncommand: [true]\npriority: 1\n"),
       "--priority", "7"});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  auto job = cluster_.client().GetJob(std::stoll(good.out));
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().name(), "from-file");
  EXPECT_EQ(job->spec().priority(), 7);
}

TEST_F(ClusterBadInput, UnknownIdsExitFour) {
  for (auto args : std::vector<std::vector<std::string>>{{"show", "424242"},
                                                         {"cancel", "424242"},
                                                         {"logs", "424242"},
                                                         {"logs", "424242.0", "-f"}}) {
    CommandResult r = cluster_.Muster(args);
    EXPECT_EQ(r.exit_code, 4) << args[0] << ": " << r.err;
    EXPECT_EQ(CountLines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("424242"), std::string::npos) << r.err;
  }
  // An unknown dependency is bad input for submit.
  CommandResult dep = cluster_.Muster({"submit", "--after", "424242", "--", "true"});
  EXPECT_NE(dep.exit_code, 0);
  EXPECT_EQ(CountLines(dep.err), 1) << dep.err;
}

TEST_F(ClusterBadInput, InfeasibleRequestNamesTheLargestNode) {
  CommandResult gpus = cluster_.Muster({"submit", "--gpus", "3", "--", "true"});
  EXPECT_EQ(gpus.exit_code, 5) << gpus.err;
  ExpectOneErrorLine(gpus);
  EXPECT_NE(gpus.err.find("node-"), std::string::npos) << "does not name a node: " << gpus.err;
  CommandResult mem = cluster_.Muster({"submit", "--mem", "1T", "--", "true"});
  EXPECT_EQ(mem.exit_code, 5) << mem.err;
  ExpectOneErrorLine(mem);
  CommandResult model =
      cluster_.Muster({"submit", "--gpus", "1", "--gpu-model", "TPU-v9", "--", "true"});
  EXPECT_EQ(model.exit_code, 5) << model.err;
  ExpectNoJobs();
}

TEST_F(ClusterBadInput, RandomBytesOnThePortDoNotHurt) {
  std::string host = cluster_.address().substr(0, cluster_.address().rfind(':'));
  int port = std::stoi(cluster_.address().substr(cluster_.address().rfind(':') + 1));
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk;
    if (round % 4 == 1) junk = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";  // a valid preface, then noise
    if (round % 4 == 2) junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 1 + rng() % 4096;
    for (size_t i = 0; i < n; ++i) junk += static_cast<char>(rng());
    (void)!write(fd, junk.data(), junk.size());
    if (round % 2 == 0) {
      char buf[256];
      timeval tv{0, 100000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      (void)!read(fd, buf, sizeof buf);
    }
    close(fd);
  }
  // The coordinator still serves normal requests, and the agents are still connected.
  int64_t id = cluster_.Submit({"--", "true"});
  ASSERT_GT(id, 0);
  EXPECT_EQ(cluster_.WaitForJob(id, 30s).state(), v1::JOB_STATE_SUCCEEDED) << cluster_.LogTails();
  EXPECT_TRUE(cluster_.WaitForReadyNodes(2, 2s));
}

TEST_F(ClusterBadInput, DuplicateAgentNameIsRefused) {
  fs::path work = cluster_.dir() / "dup";
  fs::create_directories(work);
  Process dup;
  ASSERT_TRUE(
      dup.Start({MusterBinary(), "agent", "--coordinator", cluster_.address(), "--name", "node-0",
                 "--work-dir", work.string(), "--gpus", "1", "--heartbeat", "200ms",
                 "--coordinator-dir", cluster_.state_dir().string()},
                cluster_.dir() / "dup.out", cluster_.dir() / "dup.err"));
  auto code = dup.Wait(15s);
  ASSERT_TRUE(code.has_value()) << "the duplicate agent kept running";
  EXPECT_NE(*code, 0);
  std::string err = ReadFile(cluster_.dir() / "dup.err");
  EXPECT_NE(err.find("node-0"), std::string::npos) << err;
  // The original node-0 is untouched: still ready, with its 2 GPUs.
  auto nodes = cluster_.client().ListNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->nodes_size(), 2);
  for (const auto& n : nodes->nodes()) {
    EXPECT_EQ(n.state(), "ready") << n.spec().name();
    EXPECT_EQ(n.spec().gpus_size(), 2) << n.spec().name();
  }
}

}  // namespace
}  // namespace muster::testing
