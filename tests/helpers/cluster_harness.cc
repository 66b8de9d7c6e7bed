#include "tests/helpers/cluster_harness.h"

#include "core/job.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "cluster/agent/task_cgroup.h"
#include "tests/helpers/netns.h"

extern char** environ;

namespace muster::testing {

std::string MusterBinary() {
  return MUSTER_BINARY;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

std::string Tail(const std::string& s, size_t lines) {
  size_t pos = s.size();
  for (size_t n = 0; n <= lines && pos > 0; ++n) {
    size_t nl = s.rfind('\n', pos - 1);
    if (nl == std::string::npos) return s;
    pos = nl;
  }
  return s.substr(pos);
}

fs::path MakeTempDir() {
  std::string templ = (fs::temp_directory_path() / "muster-it-XXXXXX").string();
  char* d = mkdtemp(templ.data());
  return d == nullptr ? fs::path() : fs::path(d);
}

}  // namespace

Process::~Process() {
  Stop(500ms);
}

bool Process::Start(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
                    const std::map<std::string, std::string>& env) {
  // Everything the child needs is prepared before fork(): only async-signal-safe calls after.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (!env.contains(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env_strings) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0) return false;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);  // the test ignores it (TestCluster); its children do not
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  close(null_fd);
  if (pid < 0) return false;
  setpgid(pid, pid);
  pid_ = pid;
  exit_code_.reset();
  return true;
}

bool Process::Running() {
  if (pid_ <= 0 || exit_code_) return false;
  return !Wait(0ms).has_value();
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !exit_code_) kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return exit_code_;
    }
    if (r < 0) {
      exit_code_ = -1;
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

void Process::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (!exit_code_) {
    kill(pid_, SIGTERM);
    if (!Wait(grace)) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      Wait(5s);
    }
  }
  kill(-pid_, SIGKILL);  // anything left in its process group
  pid_ = -1;
}

CommandResult RunMuster(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {MusterBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout, env);
}

CommandResult RunMusterAs(const std::string& user, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout,
                          const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=" + user, "--regid=" + user,
                                   "--init-groups", MusterBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout, env);
}

TestUnixUser::TestUnixUser(const std::string& prefix) {
  std::string candidate = prefix + std::to_string(::getpid() % 100000);
  CommandResult r = RunCommand({"/usr/sbin/useradd", "--system", "--no-create-home", "--shell",
                                "/usr/sbin/nologin", candidate},
                               20s);
  if (r.exit_code != 0) {
    error_ = "useradd " + candidate + " failed: " + r.err;
    return;
  }
  name_ = candidate;
  struct passwd* pw = getpwnam(name_.c_str());
  if (pw == nullptr) {
    error_ = "useradd made no " + name_;
    return;
  }
  uid_ = pw->pw_uid;
}

TestUnixUser::~TestUnixUser() {
  if (!name_.empty()) RunCommand({"/usr/sbin/userdel", name_}, 20s);
}

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& env) {
  CommandResult r;
  fs::path dir = MakeTempDir();
  {
    Process p;
    if (!p.Start(argv, dir / "out", dir / "err", env)) {
      r.err = "cannot start " + MusterBinary();
      return r;
    }
    auto code = p.Wait(timeout);
    if (!code) {
      r.timed_out = true;
      p.Stop(100ms);
    } else {
      r.exit_code = *code;
    }
  }
  r.out = ReadFile(dir / "out");
  r.err = ReadFile(dir / "err");
  fs::remove_all(dir);
  return r;
}

namespace {
constexpr int kCoordinatorPort = 7070;  // on the coordinator's own host: nothing else there
}  // namespace

TestCluster::TestCluster(ClusterOptions options) : options_(std::move(options)) {
  // The test writes to servers that may close on it (a TLS listener refusing its certificate
  // after the handshake, a coordinator it killed): such a write must fail and be checked, not end
  // the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  dir_ = MakeTempDir();
  fs::create_directories(state_dir());
  agents_.resize(options_.agents);
  agent_relays_.resize(options_.agents);
  if (options_.network_hosts) net_ = std::make_unique<NetworkHosts>(options_.agents + 1);
  if (options_.state_tmpfs_mib > 0 && !dir_.empty()) {
    const std::string cmd = "mount -t tmpfs -o size=" + std::to_string(options_.state_tmpfs_mib) +
                            "m muster-test-state " + state_dir().string();
    tmpfs_mounted_ = ::geteuid() == 0 && std::system(cmd.c_str()) == 0;
  }
}

std::string TestCluster::network_error() const {
  if (!options_.network_hosts) return "";
  return net_->ok() ? "" : net_->error();
}

std::vector<std::string> TestCluster::OnHost(int host, std::vector<std::string> argv) const {
  return net_ ? net_->In(host, std::move(argv)) : argv;
}

bool TestCluster::CutAgent(int i) {
  bool ok = net_ && net_->Cut(i + 1);
  if (!ok) ADD_FAILURE() << "cannot cut off agent " << i << ": " << network_error();
  return ok;
}

bool TestCluster::HealAgent(int i) {
  bool ok = net_ && net_->Heal(i + 1);
  if (!ok) ADD_FAILURE() << "cannot heal agent " << i << ": " << network_error();
  return ok;
}

bool TestCluster::CutCoordinator() {
  bool ok = net_ && net_->Cut(0);
  if (!ok) ADD_FAILURE() << "cannot cut off the coordinator: " << network_error();
  return ok;
}

bool TestCluster::HealCoordinator() {
  bool ok = net_ && net_->Heal(0);
  if (!ok) ADD_FAILURE() << "cannot heal the coordinator: " << network_error();
  return ok;
}

void TestCluster::SetAgentLatency(int i, int ms) {
  if (agent_relays_[i]) agent_relays_[i]->SetDelayMs(ms);
}

bool TestCluster::FillStateDisk() {
  if (!tmpfs_mounted_) {
    ADD_FAILURE() << "the state dir is not a tmpfs of this test's (state_tmpfs_mib)";
    return false;
  }
  const std::string cmd = "dd if=/dev/zero of=" + (state_dir() / "filler").string() +
                          " bs=1M count=" + std::to_string(options_.state_tmpfs_mib) +
                          " 2>/dev/null";
  (void)std::system(cmd.c_str());  // fails with "no space left": that is the point
  return true;
}

void TestCluster::FreeStateDisk() {
  std::error_code ec;
  fs::remove(state_dir() / "filler", ec);
}

TestCluster::~TestCluster() {
  for (auto& a : agents_)
    if (a) a->Stop(3s);
  if (coordinator_) coordinator_->Stop(3s);
  client_.reset();
  agent_relays_.clear();
  client_relay_.reset();
  net_.reset();  // every namespace, with its interfaces
  if (tmpfs_mounted_) (void)std::system(("umount -l " + state_dir().string()).c_str());
  // The agents' cgroups (a killed agent leaves its directories behind).
  for (size_t i = 0; i < agents_.size(); ++i) {
    const std::string name = "node-" + std::to_string(i);
    const std::string work = fs::absolute(dir_ / name).lexically_normal().string();
    if (auto tree = agent::CgroupTree::Open(agent::CgroupAgentId(name, work)); tree.ok())
      tree->Clear();
  }
  if (std::getenv("MUSTER_KEEP_TEST_DIRS") == nullptr && !dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  } else {
    std::fprintf(stderr, "test cluster kept in %s\n", dir_.c_str());
  }
}

std::string TestCluster::StartCoordinator() {
  fs::path addr_file = state_dir() / "coordinator.addr";
  std::error_code ec;
  fs::remove(addr_file, ec);
  if (net_ && !net_->ok()) return "no network hosts: " + net_->error();
  // A restart listens on the same address, so agents reconnect to it.
  std::string listen = address_.empty() ? "127.0.0.1:0" : address_;
  if (net_) listen = net_->address(0) + ":" + std::to_string(kCoordinatorPort);
  std::vector<std::string> argv = {MusterBinary(),
                                   "coordinator",
                                   "--listen",
                                   listen,
                                   "--state-dir",
                                   state_dir().string(),
                                   "--heartbeat-timeout",
                                   options_.heartbeat_timeout,
                                   "--lost-node-timeout",
                                   options_.lost_node_timeout,
                                   "--fence-grace",
                                   options_.fence_grace};
  // Tests run as root on CI machines: the jobs the CLI submits are then root's.
  if (geteuid() == 0) argv.push_back("--allow-root-jobs");
  argv.insert(argv.end(), options_.coordinator_args.begin(), options_.coordinator_args.end());
  coordinator_ = std::make_unique<Process>();
  ++coordinator_starts_;
  if (!coordinator_->Start(OnHost(0, argv), dir_ / "coordinator.out", dir_ / "coordinator.err"))
    return "cannot start the coordinator";
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string a = ReadFile(addr_file);
    if (!a.empty() && a.back() == '\n') {
      address_ = a.substr(0, a.size() - 1);
      if (net_) {  // this process is on none of the hosts: it goes through a relay
        if (!client_relay_)
          client_relay_ = std::make_unique<TcpRelay>("", net_->ns(0), net_->address(0),
                                                     kCoordinatorPort);
        if (!client_relay_->ok()) return "relay to the coordinator: " + client_relay_->error();
        address_ = "127.0.0.1:" + std::to_string(client_relay_->port());
      }
      client_ = std::make_unique<client::CoordinatorClient>(OwnerClientOptions());
      return "";
    }
    if (!coordinator_->Running()) return "the coordinator exited early" + LogTails();
    std::this_thread::sleep_for(20ms);
  }
  return "the coordinator did not write coordinator.addr within 15 s" + LogTails();
}

client::ClientOptions TestCluster::OwnerClientOptions(std::chrono::milliseconds deadline) const {
  client::ClientOptions o{.address = address_,
                          .deadline = deadline,
                          .credentials = cluster::TokenSource::Local(LocalSocket())};
  auto transport = cluster::ResolveClientTransport(state_dir().string());
  if (transport.ok())
    o.transport = *transport;
  else
    o.setup_error = transport.status();
  return o;
}

void TestCluster::KillCoordinator(int sig) {
  if (!coordinator_) return;
  coordinator_->Signal(sig);
  coordinator_->Wait(10s);
}

std::string TestCluster::StartAgent(int i) {
  std::string name = "node-" + std::to_string(i);
  fs::path work = dir_ / name;
  fs::create_directories(work);
  std::string coordinator = address_;
  if (net_) {
    if (!agent_relays_[i])
      agent_relays_[i] = std::make_unique<TcpRelay>(net_->ns(i + 1), net_->ns(i + 1),
                                                    net_->address(0), kCoordinatorPort);
    if (!agent_relays_[i]->ok()) return "relay of agent " + name + ": " + agent_relays_[i]->error();
    coordinator = "127.0.0.1:" + std::to_string(agent_relays_[i]->port());
  }
  std::vector<std::string> argv = {MusterBinary(),  "agent",
                                   "--coordinator", coordinator,
                                   "--name",        name,
                                   "--work-dir",    work.string(),
                                   "--gpus",        std::to_string(options_.gpus_per_agent),
                                   "--cpus",        std::to_string(options_.cpus_per_agent),
                                   "--memory",      "16G",
                                   "--heartbeat",   options_.heartbeat,
                                   "--coordinator-dir", state_dir().string()};
  if (net_) argv.insert(argv.end(), {"--address", net_->address(i + 1)});
  agents_[i] = std::make_unique<Process>();
  if (!agents_[i]->Start(OnHost(i + 1, argv), dir_ / (name + ".out"), dir_ / (name + ".err")))
    return "cannot start agent " + name;
  return "";
}

void TestCluster::SignalAgent(int i, int sig) {
  if (agents_[i]) agents_[i]->Signal(sig);
}

void TestCluster::KillAgent(int i, int sig) {
  if (!agents_[i]) return;
  agents_[i]->Signal(sig);
  agents_[i]->Wait(10s);
}

bool TestCluster::WaitForReadyNodes(int n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto nodes = client_->ListNodes();
    if (nodes.ok()) {
      int ready = 0;
      for (const auto& node : nodes->nodes()) ready += node.state() == "ready";
      if (ready >= n) return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::string TestCluster::Start() {
  if (dir_.empty()) return "cannot create a temporary directory";
  if (std::string e = StartCoordinator(); !e.empty()) return e;
  for (int i = 0; i < options_.agents; ++i)
    if (std::string e = StartAgent(i); !e.empty()) return e;
  if (!WaitForReadyNodes(options_.agents))
    return "agents did not become ready within 15 s" + LogTails();
  return "";
}

std::vector<std::string> TestCluster::WithCoordinator(std::vector<std::string> args) const {
  auto dashdash = std::find(args.begin(), args.end(), "--");
  auto pos = args.insert(dashdash, "--coordinator");
  args.insert(pos + 1, address_);
  return args;
}

CommandResult TestCluster::MusterAs(const std::string& user, std::vector<std::string> args,
                                    std::chrono::milliseconds timeout) {
  return RunMusterAs(user, WithCoordinator(std::move(args)), timeout,
                     {{cluster::kStateDirEnv, state_dir().string()}});
}

CommandResult TestCluster::Muster(std::vector<std::string> args,
                                  std::chrono::milliseconds timeout) {
  return RunMuster(WithCoordinator(std::move(args)), timeout,
                   {{cluster::kStateDirEnv, state_dir().string()}});
}

int64_t TestCluster::Submit(const std::vector<std::string>& args) {
  std::vector<std::string> full = {"submit", "-q"};
  full.insert(full.end(), args.begin(), args.end());
  CommandResult r = Muster(full);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "submit failed (exit " << r.exit_code << "): " << r.err << LogTails();
    return 0;
  }
  try {
    return std::stoll(r.out);
  } catch (...) {
    ADD_FAILURE() << "submit printed no job id: '" << r.out << "'";
    return 0;
  }
}

v1::JobInfo TestCluster::WaitForJob(int64_t id, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  v1::JobInfo last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto j = client_->GetJob(id);
    if (j.ok()) {
      last = *j;
      if (auto state = muster::cluster::FromProto(last.state());
          state.ok() && muster::IsTerminal(*state))
        return last;
    }
    std::this_thread::sleep_for(50ms);
  }
  last.set_reason("still not ended when the test stopped waiting (last state: " +
                  std::string(muster::cluster::StateName(last.state())) + "): " + last.reason());
  return last;
}

std::string TestCluster::LogTails() const {
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    if (ext != ".out" && ext != ".err") continue;
    std::string t = Tail(ReadFile(e.path()), 15);
    if (!t.empty()) out += "\n--- " + e.path().filename().string() + ":" + t;
  }
  return out;
}

}  // namespace muster::testing
