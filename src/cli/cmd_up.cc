// `muster up`: the embedded cluster. Runs one `muster coordinator` and N `muster agent`
// processes of this same binary (/proc/self/exe) on this machine.
//
// Steps: lock STATE/up.lock (a second `up` on the same state dir is refused), check the listen
// port is free (a second `up` on the same port is refused), start the coordinator with state dir
// STATE/coordinator and wait for STATE/coordinator/coordinator.addr, start agents node1..nodeN
// (stable names, so a restart resumes) with work dirs STATE/agents/nodeK, then poll ListNodes
// until all N are ready and print one line. CPUs and memory are split evenly across agents;
// GPUs are the host's real ones split across agents (--gpu-ids), or --gpus-per-agent virtual ones.
// Children run in their own process group (Ctrl-C in the terminal reaches only `up`) with
// PR_SET_PDEATHSIG, so they die with `up`; their output goes to STATE/coordinator.log and
// STATE/agents/nodeK.log unless --verbose. Ctrl-C/SIGTERM: agents stop (each stops its tasks),
// then the coordinator; exit 0. A child that dies unexpectedly is named, the rest are stopped,
// exit 1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cluster/agent/discovery.h"
#include "cluster/agent/gpu_driver.h"
#include "cluster/agent/task_cgroup.h"
#include "cluster/client/coordinator_client.h"
#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"

namespace muster::cli {

namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

struct UpFlags {
  int agents = 2;
  int gpus_per_agent = -1;
  std::string gpu_memory = "16G";
  std::string cpus_per_agent;
  std::string memory_per_agent;
  std::string listen = "127.0.0.1:7070";
  std::string state_dir;
  std::string policy;
  std::string preempt, preempt_after;  // "" = the coordinator's defaults
  std::string balancer;  // off | dry-run | on; empty = the coordinator's default
  std::string http;      // HOST:PORT for /metrics; empty = off
  bool verbose = false;
  bool allow_local_users = false;
};

volatile sig_atomic_t g_stop_signal = 0;

struct Child {
  std::string what;  // "coordinator" or "agent node2"
  std::string log;   // its output file ("" when inherited)
  pid_t pid = -1;
  int status = 0;
  bool exited = false;
  std::string cgroup_id;  // agents: where their task cgroups live (task_cgroup.h)
};

// Starts /proc/self/exe with `args` in its own process group; output to `log` unless empty.
pid_t StartChild(const std::string& exe, const std::vector<std::string>& args,
                 const std::string& log) {
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fd = log.empty() ? -1 : open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  if (fd >= 0) close(fd);
  return pid;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "unknown status";
}

// The last `n` lines of a file, each prefixed for display.
std::string Tail(const std::string& path, int n) {
  std::ifstream in(path);
  std::deque<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
    if (static_cast<int>(lines.size()) > n) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "  | " + l + "\n";
  return out;
}

// Reaps children that have exited; returns the first one found that had not been seen.
Child* Reap(std::vector<Child>& children) {
  Child* first = nullptr;
  for (auto& c : children) {
    if (c.exited || c.pid <= 0) continue;
    int st = 0;
    if (waitpid(c.pid, &st, WNOHANG) == c.pid) {
      c.exited = true;
      c.status = st;
      if (!first) first = &c;
    }
  }
  return first;
}

// SIGTERM to each running child of `which`, then wait up to `grace`; SIGKILL the rest.
void StopChildren(std::vector<Child*> which, std::chrono::milliseconds grace) {
  for (Child* c : which)
    if (!c->exited) kill(c->pid, SIGTERM);
  auto deadline = steady_clock::now() + grace;
  while (steady_clock::now() < deadline) {
    bool all = true;
    for (Child* c : which) {
      if (c->exited) continue;
      int st = 0;
      if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
        c->exited = true;
        c->status = st;
      } else {
        all = false;
      }
    }
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (Child* c : which)
    if (!c->exited) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &c->status, 0);
      c->exited = true;
    }
  // An agent that had to be killed leaves its cgroup directories (and whatever is in them).
  for (Child* c : which)
    if (!c->cgroup_id.empty())
      if (auto tree = agent::CgroupTree::Open(c->cgroup_id); tree.ok()) tree->Clear();
}

// 0 if host:port can be bound (nothing listens there), else the bind's errno. Port 0 and
// unparsable addresses return 0 (the coordinator reports those itself).
int BindError(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return 0;
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port == 0) return 0;
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty() || host == "0.0.0.0" || host == "*")
    addr.sin_addr.s_addr = INADDR_ANY;
  else if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return true;  // let it try
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int err = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  close(fd);
  return err;
}

int RunUp(const UpFlags& f) {
  const auto t0 = steady_clock::now();
  auto fail = [](const std::string& msg, int code) {
    std::cerr << "muster up: " << msg << "\n";
    return code;
  };
  if (f.agents < 1) return fail("--agents must be at least 1", kExitUsage);
  const std::string dir = fs::absolute(f.state_dir.empty() ? cluster::DefaultStateDir() : f.state_dir)
                              .lexically_normal()
                              .string();
  std::error_code ec;
  fs::create_directories(dir + "/coordinator", ec);
  fs::create_directories(dir + "/agents", ec);
  if (ec) return fail("cannot create the state dir " + dir + ": " + ec.message(), kExitUsage);
  // Private, or searchable (never listable) by the other local users who may call.
  if (std::string why; !cluster::RestrictStateDir(dir, f.allow_local_users, &why))
    std::cerr << "muster up: warning: " << why << "\n";
  fs::permissions(dir + "/agents", fs::perms::owner_all, ec);

  // One `up` per state dir.
  int lock_fd = open((dir + "/up.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::ifstream in(dir + "/up.lock");
    std::string pid;
    in >> pid;
    return fail("already running with state dir " + dir +
                    (pid.empty() ? "" : " (pid " + pid + ")") +
                    "; stop it first, or pass another --state-dir",
                kExitFailed);
  }
  if (ftruncate(lock_fd, 0) == 0) {
    std::string pid = std::to_string(getpid()) + "\n";
    ssize_t w = write(lock_fd, pid.data(), pid.size());
    (void)w;
  }
  if (int err = BindError(f.listen); err == EADDRINUSE)
    return fail("already running? " + f.listen +
                    " is in use by another `muster up` or coordinator; stop it, or pass "
                    "--listen 127.0.0.1:0 for any free port",
                kExitFailed);
  else if (err != 0)
    return fail("cannot listen on " + f.listen + ": " + std::strerror(err), kExitUsage);

  // Resources per agent.
  agent::DiscoveryOptions host;
  MilliCpu cpus = ParseMilliCpus(f.cpus_per_agent);
  if (f.cpus_per_agent.empty())
    cpus = std::max<MilliCpu>(1000, agent::DiscoverMilliCpus(host) / f.agents / 1000 * 1000);
  else if (cpus <= 0)
    return fail("--cpus-per-agent: expected a count like 2 or 1.5", kExitUsage);
  MiB mem = ParseMemoryMiB(f.memory_per_agent);
  if (f.memory_per_agent.empty())
    mem = std::max<MiB>(256, agent::DiscoverMemoryMiB(host) / f.agents);
  else if (mem <= 0)
    return fail("--memory-per-agent: expected a size like 8G", kExitUsage);
  std::vector<std::vector<int>> real_split(f.agents);
  int total_gpus = 0;
  std::string gpu_kind = "virtual";
  if (f.gpus_per_agent < 0) {
    auto driver = agent::GpuDriver::Load();
    auto gpus = driver->Devices();
    for (size_t i = 0; i < gpus.size(); ++i)
      real_split[i * f.agents / gpus.size()].push_back(gpus[i].index);
    total_gpus = static_cast<int>(gpus.size());
    if (!gpus.empty()) gpu_kind = gpus[0].model;
  } else {
    total_gpus = f.gpus_per_agent * f.agents;
  }

  // Signals: handled synchronously below (sigtimedwait); children get a clean mask. The handler
  // catches a stop signal the kernel hands to a thread that does not block it.
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { g_stop_signal = sig; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  char exe_buf[4096] = {};
  ssize_t n = readlink("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
  const std::string exe = n > 0 ? std::string(exe_buf, static_cast<size_t>(n)) : "/proc/self/exe";
  const std::string addr_file = dir + "/coordinator/coordinator.addr";
  fs::remove(addr_file, ec);

  std::vector<Child> children;
  children.reserve(f.agents + 1);
  std::vector<std::string> cargs{"coordinator", "--listen", f.listen, "--state-dir",
                                 dir + "/coordinator"};
  if (!f.policy.empty()) cargs.insert(cargs.end(), {"--policy", f.policy});
  if (!f.preempt.empty()) cargs.insert(cargs.end(), {"--preempt", f.preempt});
  if (!f.preempt_after.empty()) cargs.insert(cargs.end(), {"--preempt-after", f.preempt_after});
  if (!f.balancer.empty()) cargs.insert(cargs.end(), {"--balancer", f.balancer});
  if (!f.http.empty()) cargs.insert(cargs.end(), {"--http", f.http});
  if (f.allow_local_users) cargs.push_back("--allow-local-users");
  // The owner of `up` is the cluster's admin; when that is root, its own jobs run as root.
  if (geteuid() == 0) cargs.push_back("--allow-root-jobs");
  // Its children authenticate through the coordinator's local socket, as this Unix user; a
  // token meant for another cluster must not reach them.
  unsetenv(cluster::kTokenEnv);
  unsetenv(cluster::kCaCertEnv);
  unsetenv(cluster::kInsecureEnv);
  children.push_back({"coordinator", f.verbose ? "" : dir + "/coordinator.log"});
  children[0].pid = StartChild(exe, cargs, children[0].log);

  auto died = [&](Child& c) {
    std::string msg =
        c.what + " exited unexpectedly (" + Describe(c.status) + "); stopping the rest";
    if (!c.log.empty()) msg += "; its last output (" + c.log + "):\n" + Tail(c.log, 8);
    std::cerr << "muster up: " << msg;
    if (c.log.empty()) std::cerr << "\n";
    std::vector<Child*> agents, coord;
    for (auto& x : children) (x.what == "coordinator" ? coord : agents).push_back(&x);
    StopChildren(agents, std::chrono::milliseconds(8000));
    StopChildren(coord, std::chrono::milliseconds(5000));
    return kExitFailed;
  };
  auto interrupted = [&] {
    siginfo_t info;
    timespec zero{0, 0};
    int sig;
    while ((sig = sigtimedwait(&set, &info, &zero)) > 0)
      if (sig == SIGINT || sig == SIGTERM) return true;
    return g_stop_signal != 0;
  };
  auto stop_all = [&] {
    std::vector<Child*> agents, coord;
    for (auto& x : children) (x.what == "coordinator" ? coord : agents).push_back(&x);
    StopChildren(agents, std::chrono::milliseconds(8000));
    StopChildren(coord, std::chrono::milliseconds(5000));
  };

  // Wait for the coordinator's address.
  std::string address;
  while (address.empty()) {
    if (Child* c = Reap(children)) return died(*c);
    if (interrupted()) return stop_all(), kExitInterrupted;
    std::ifstream in(addr_file);
    std::string line;
    if (in && std::getline(in, line) && !line.empty())
      address = line;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (steady_clock::now() - t0 > std::chrono::seconds(30)) {
      stop_all();
      return fail(
          "the coordinator did not start listening within 30 s; see " + dir + "/coordinator.log",
          kExitFailed);
    }
  }
  // Agents. A node counts as up once it has been heard from after this point: on a resumed
  // state dir the coordinator lists the previous run's nodes before they re-register.
  const int64_t agents_started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
  for (int k = 1; k <= f.agents; ++k) {
    const std::string name = "node" + std::to_string(k);
    std::vector<std::string> a{"agent",
                               "--coordinator",
                               address,
                               "--name",
                               name,
                               "--work-dir",
                               dir + "/agents/" + name,
                               "--coordinator-dir",
                               dir + "/coordinator",
                               "--cpus",
                               FormatMilliCpus(cpus),
                               "--memory",
                               std::to_string(mem) + "M"};
    if (f.gpus_per_agent >= 0) {
      a.insert(a.end(), {"--gpus", std::to_string(f.gpus_per_agent), "--gpu-memory", f.gpu_memory});
    } else if (real_split[k - 1].empty()) {
      a.insert(a.end(), {"--gpus", "0"});
    } else {
      std::string ids;
      for (int g : real_split[k - 1]) ids += (ids.empty() ? "" : ",") + std::to_string(g);
      a.insert(a.end(), {"--gpu-ids", ids});
    }
    children.push_back({"agent " + name, f.verbose ? "" : dir + "/agents/" + name + ".log"});
    children.back().cgroup_id = agent::CgroupAgentId(
        name, std::filesystem::absolute(dir + "/agents/" + name).lexically_normal().string());
    children.back().pid = StartChild(exe, a, children.back().log);
  }
  // Ready when every agent is registered.
  auto transport = cluster::ResolveClientTransport(dir + "/coordinator");
  if (!transport.ok()) {
    stop_all();
    return fail(transport.status().message(), kExitFailed);
  }
  client::CoordinatorClient cc(
      {.address = address,
       .deadline = std::chrono::milliseconds(1000),
       .credentials =
           cluster::TokenSource::Local(dir + "/coordinator/" + cluster::kLocalAuthSocketName),
       .transport = *transport});
  bool ready = false;
  while (!ready) {
    if (Child* c = Reap(children)) return died(*c);
    if (interrupted()) return stop_all(), kExitInterrupted;
    auto nodes = cc.ListNodes();
    if (nodes.ok()) {
      int up = 0;
      for (const auto& nd : nodes->nodes())
        for (int k = 1; k <= f.agents; ++k)
          if (nd.spec().name() == "node" + std::to_string(k) && nd.state() == "ready" &&
              nd.last_heartbeat_ms() >= agents_started_ms)
            ++up;
      ready = up == f.agents;
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!ready && steady_clock::now() - t0 > std::chrono::seconds(30)) {
      stop_all();
      return fail("the agents did not register within 30 s; see " + dir + "/agents/*.log",
                  kExitFailed);
    }
  }
  const double secs = std::chrono::duration<double>(steady_clock::now() - t0).count();
  char ready_in[32];
  std::snprintf(ready_in, sizeof ready_in, "%.2f", secs);
  std::cout << "muster up: coordinator " << address << ", " << f.agents
            << (f.agents == 1 ? " agent, " : " agents, ") << total_gpus << " GPUs"
            << (total_gpus > 0 ? " (" + gpu_kind + ")" : "") << ", state in " << dir
            << " (ready in " << ready_in << " s) — Ctrl-C to stop" << std::endl;
  if (!f.http.empty()) {  // the coordinator wrote its bound address before it took calls
    std::ifstream http(dir + "/coordinator/coordinator.http");
    std::string url;
    if (std::getline(http, url) && !url.empty())
      std::cout << "muster up: REST API at " << url << "/api/v1, metrics at " << url
                << "/metrics (the cluster CA: " << dir << "/coordinator/tls/ca.crt)" << std::endl;
  }
  if (f.allow_local_users)
    std::cout << "muster up: other users of this machine: export MUSTER_STATE_DIR=" << dir
              << (geteuid() == 0 ? "" : " (this cluster's agents are not root: they run only "
                                        "your tasks)")
              << std::endl;

  // Serve until a signal or a child's death.
  while (true) {
    siginfo_t info;
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&set, &info, &tick);
    if (Child* c = Reap(children)) return died(*c);
    if (sig == SIGINT || sig == SIGTERM || g_stop_signal != 0) {
      std::cout << "muster up: stopping " << f.agents << (f.agents == 1 ? " agent" : " agents")
                << " and the coordinator" << std::endl;
      std::vector<Child*> agents, coord;
      for (auto& x : children) (x.what == "coordinator" ? coord : agents).push_back(&x);
      StopChildren(agents, std::chrono::milliseconds(8000));
      // An agent exiting now is expected; anything else that died is reported.
      StopChildren(coord, std::chrono::milliseconds(5000));
      bool clean = true;
      for (auto& c : children)
        if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
          std::cerr << "muster up: " << c.what << " ended with " << Describe(c.status) << "\n";
          clean = false;
        }
      std::cout << "muster up: stopped" << std::endl;
      return clean ? kExitOk : kExitFailed;
    }
  }
}

}  // namespace

void AddUpCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<UpFlags>();
  CLI::App* cmd = app.add_subcommand(
      "up", "Run an embedded cluster on this machine: one coordinator and N agents");
  cmd->add_option("--agents", f->agents, "Number of agents (nodes)")->capture_default_str();
  cmd->add_option("--gpus-per-agent", f->gpus_per_agent,
                  "Virtual GPUs per agent (default: this host's real GPUs split across agents)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--gpu-memory", f->gpu_memory, "Memory of each virtual GPU")
      ->capture_default_str();
  cmd->add_option("--cpus-per-agent", f->cpus_per_agent,
                  "CPUs each agent offers (default: this host's CPUs split across agents)");
  cmd->add_option("--memory-per-agent", f->memory_per_agent,
                  "Memory each agent offers, e.g. 8G (default: this host's memory split)");
  cmd->add_option("--listen", f->listen, "Coordinator address (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--state-dir", f->state_dir,
                  "State directory (default $MUSTER_STATE_DIR, else ~/.local/state/muster)");
  cmd->add_option("--policy", f->policy,
                  "Queue policy passed to the coordinator (srtf and las preempt)");
  cmd->add_option("--preempt", f->preempt, "Preemption passed to the coordinator (see its --help)");
  cmd->add_option("--preempt-after", f->preempt_after,
                  "How long a job waits before it preempts (passed to the coordinator)");
  cmd->add_option("--balancer", f->balancer,
                  "Load balancer mode passed to the coordinator: off, dry-run (default) or on")
      ->check(CLI::IsMember({"off", "dry-run", "on"}));
  cmd->add_option("--http", f->http,
                  "Serve the REST API /api/v1 and Prometheus /metrics over HTTPS on HOST:PORT "
                  "(port 0: any free port; its URL is written to "
                  "STATE/coordinator/coordinator.http)");
  cmd->add_flag("-v,--verbose", f->verbose, "Show the coordinator's and agents' logs here");
  cmd->add_flag("--allow-local-users", f->allow_local_users,
                "Let the other Unix users of this machine use the cluster, each as itself with "
                "the user role (they set MUSTER_STATE_DIR to this state dir)");
  cmd->callback([f, &ctx] { ctx.exit_code = RunUp(*f); });
}

}  // namespace muster::cli
