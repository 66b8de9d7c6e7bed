// `muster agent`: runs the node agent (src/cluster/agent) until SIGTERM/SIGINT, which stop its
// tasks (TERM, then KILL after the grace period) before it exits.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cluster/agent/join.h"
#include "cluster/agent/agent.h"
#include "cluster/common/coordinator_list.h"
#include "cluster/common/credentials.h"

namespace muster::cli {

namespace {

struct AgentFlags {
  std::string coordinator;
  std::string name;
  std::string work_dir;
  int gpus = -1;
  std::string gpu_memory = "16G";
  std::string gpu_ids;
  std::string cpus;
  std::string memory;
  std::string heartbeat = "1s";
  std::string address;
  double speed = 1.0;
  std::string stop_grace = "5s";
  std::string coordinator_dir;  // a local coordinator's state dir: authenticate through its socket
  std::string token_file;
  std::string ca_file;
  bool insecure = false;
  std::string join;
  std::string renew_before = "30d";
  std::string log_retention = "14d";
  int64_t task_pids_max = 16384;
};

int g_signal_pipe[2] = {-1, -1};

void OnStopSignal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  ssize_t w = write(g_signal_pipe[1], &b, 1);
  (void)w;
}

int RunAgent(const AgentFlags& f) {
  auto fail = [](const std::string& msg) {
    std::cerr << "muster agent: " << msg << "\n";
    return kExitUsage;
  };
  // SIGTERM/SIGINT: a handler (process-wide, so whichever thread the kernel picks runs it,
  // including threads libraries started before this point) writes the signal number to a pipe;
  // one thread reads it and shuts the agent down. Tasks get default dispositions back (spawn.cc).
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return fail("cannot create a pipe");
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  agent::AgentOptions o;
  o.coordinator = f.coordinator;
  if (o.coordinator.empty())
    if (const char* c = std::getenv("MUSTER_COORDINATOR"); c && *c) o.coordinator = c;
  if (o.coordinator.empty()) o.coordinator = "127.0.0.1:7070";
  auto list = cluster::ParseCoordinatorList(o.coordinator);
  if (!list.ok()) {
    std::cerr << "muster agent: " << list.status().message() << "\n";
    return kExitUsage;
  }
  const bool explicit_credential = !f.token_file.empty() || !f.coordinator_dir.empty() ||
                                   std::getenv(cluster::kTokenEnv) != nullptr;
  o.credentials = cluster::TokenSource::Resolve(f.coordinator_dir, f.token_file);
  // The task environment is built from scratch (launcher.h); the credential must not reach it
  // even through a future change there.
  unsetenv(cluster::kTokenEnv);
  o.discovery.name = f.name;
  if (o.discovery.name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    o.discovery.name = host;
  }
  o.work_dir = f.work_dir.empty() ? cluster::DefaultStateDir() + "/agents/" + o.discovery.name : f.work_dir;
  // The link: a node certificate (from --join now, or from an earlier join), else TLS with the
  // CA and a token.
  if (!f.join.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.work_dir, ec);
    // Any coordinator of the list that leads signs the node's certificate.
    Result<cluster::ClientTransport> joined = Status::Unavailable("no coordinator to join");
    for (const std::string& address : *list) {
      joined = agent::JoinCluster(address, o.discovery.name, f.join, o.work_dir);
      if (joined.ok() || joined.status().code() != StatusCode::kUnavailable) break;
    }
    if (!joined.ok()) {
      std::cerr << "muster agent: " << joined.status().message() << "\n";
      return joined.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
    }
    std::cerr << "muster agent: joined the cluster at " << o.coordinator << " as "
              << o.discovery.name << "; its certificate is in " << o.work_dir << "/tls\n";
    o.transport = *joined;
    o.credentials = nullptr;
  } else if (auto saved = agent::LoadNodeCredentials(o.work_dir);
             saved.ok() && !explicit_credential) {
    o.transport = *saved;
    o.credentials = nullptr;
  } else {
    auto transport = cluster::ResolveClientTransport(f.coordinator_dir, f.ca_file, f.insecure);
    if (!transport.ok()) return fail(transport.status().message());
    o.transport = *transport;
  }
  o.discovery.virtual_gpus = f.gpus;
  if ((o.discovery.virtual_gpu_memory_mib = ParseMemoryMiB(f.gpu_memory)) <= 0)
    return fail("--gpu-memory: expected a size like 16G, got '" + f.gpu_memory + "'");
  if (!f.gpu_ids.empty()) {
    auto ids = agent::ParseGpuIds(f.gpu_ids);
    if (!ids.ok()) return fail(ids.status().message());
    o.discovery.gpu_ids = *ids;
  }
  if (!f.cpus.empty() && (o.discovery.milli_cpus = ParseMilliCpus(f.cpus)) <= 0)
    return fail("--cpus: expected a count like 4 or 2.5, got '" + f.cpus + "'");
  if (!f.memory.empty() && (o.discovery.memory_mib = ParseMemoryMiB(f.memory)) <= 0)
    return fail("--memory: expected a size like 16G, got '" + f.memory + "'");
  if ((o.heartbeat_ms = ParseDurationMs(f.heartbeat)) <= 0)
    return fail("--heartbeat: expected a duration like 1s or 500ms, got '" + f.heartbeat + "'");
  if ((o.stop_grace_ms = ParseDurationMs(f.stop_grace)) <= 0)
    return fail("--stop-grace: expected a duration like 5s, got '" + f.stop_grace + "'");
  if (f.speed <= 0) return fail("--speed must be positive");
  if ((o.renew_before_ms = ParseDurationMs(f.renew_before)) <= 0)
    return fail("--renew-before: expected a duration like 30d or 12h, got '" + f.renew_before +
                "'");
  o.log_retention_ms = f.log_retention == "0" ? 0 : ParseDurationMs(f.log_retention);
  if (o.log_retention_ms < 0 || (f.log_retention != "0" && o.log_retention_ms == 0))
    return fail("--log-retention: expected a duration like 14d, or 0, got '" + f.log_retention +
                "'");
  if (f.task_pids_max < 0) return fail("--task-pids-max: expected a count, or 0 for no limit");
  o.task_pids_max = f.task_pids_max;
  o.discovery.speed = f.speed;
  o.discovery.address = f.address;

  spdlog::set_pattern("[%H:%M:%S.%e] agent " + o.discovery.name + ": %v");

  auto created = agent::Agent::Create(o);
  if (!created.ok()) return fail(created.status().message());
  agent::Agent& a = **created;
  spdlog::info("starting: {}; coordinator {}; work dir {}", a.Describe(), o.coordinator,
               o.work_dir);
  std::thread signals([&] {
    unsigned char sig = 0;
    while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;  // Run ended by itself
    spdlog::info("{}: shutting down", sig == SIGINT ? "interrupted" : "terminated");
    a.Shutdown();
  });
  Status st = a.Run();
  const unsigned char done = 0;
  ssize_t w = write(g_signal_pipe[1], &done, 1);
  (void)w;
  signals.join();
  if (!st.ok()) {
    std::cerr << "muster agent: the coordinator at " << o.coordinator << " refused node '"
              << o.discovery.name << "': " << st.message() << "\n";
    return kExitFailed;
  }
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

void AddAgentCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<AgentFlags>();
  CLI::App* cmd = app.add_subcommand("agent", "Run the node agent: discover resources, run tasks");
  cmd->add_option("--coordinator", f->coordinator,
                  "Coordinator HOST:PORT, or the list of the cluster's coordinators HOST:PORT,HOST:PORT "
                  "(the agent goes to whichever leads; default $MUSTER_COORDINATOR, else "
                  "127.0.0.1:7070)");
  cmd->add_option("--coordinator-dir", f->coordinator_dir,
                  "State dir of a coordinator on this machine: authenticate as this Unix user "
                  "through its local socket (default: $MUSTER_STATE_DIR or "
                  "~/.local/state/muster, when it has one)");
  cmd->add_option("--join", f->join,
                  "Join with a one-time token from `muster admin join-token`: checks the "
                  "coordinator by the CA fingerprint in the token, gets this node's certificate "
                  "(kept in WORK_DIR/tls; later starts need no token)");
  cmd->add_option("--log-retention", f->log_retention,
                  "Remove task log files from WORK_DIR/logs this long after they were last "
                  "written (the coordinator keeps its own copy); 0 keeps them")
      ->capture_default_str();
  cmd->add_option("--renew-before", f->renew_before,
                  "Renew this node's certificate when it expires within this")
      ->capture_default_str();
  cmd->add_option("--ca-file", f->ca_file,
                  "The cluster CA's certificate (the coordinator's tls/ca.crt); default: "
                  "$MUSTER_CA_CERT, the --coordinator-dir's, else ~/.config/muster/ca.crt");
  cmd->add_flag("--insecure", f->insecure, "Plaintext, to a coordinator started with --insecure");
  cmd->add_option("--token-file", f->token_file,
                  "File holding this node's token (`muster admin user add NAME --role agent`); "
                  "default: $MUSTER_TOKEN, else ~/.config/muster/token");
  cmd->add_option("--name", f->name, "Node name (default: the host name); unique in the cluster");
  cmd->add_option("--work-dir", f->work_dir,
                  "Directory for task logs and default task cwd (default STATE_DIR/agents/NAME)");
  cmd->add_option("--gpus", f->gpus, "Declare N virtual GPUs instead of discovering real ones")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--gpu-memory", f->gpu_memory, "Memory of each virtual GPU")
      ->capture_default_str();
  cmd->add_option("--gpu-ids", f->gpu_ids,
                  "Use only these real GPUs (driver indices, e.g. 0,1), to split a host's GPUs");
  cmd->add_option("--cpus", f->cpus, "CPUs to offer (default: discovered, cgroup-capped)");
  cmd->add_option("--memory", f->memory, "Memory to offer, e.g. 16G (default: discovered)");
  cmd->add_option("--heartbeat", f->heartbeat, "Heartbeat interval")->capture_default_str();
  cmd->add_option(
      "--address", f->address,
      "Address other nodes reach this one at (default: the one used to reach the coordinator)");
  cmd->add_option("--speed", f->speed, "Relative compute speed of this node")
      ->capture_default_str();
  cmd->add_option("--stop-grace", f->stop_grace, "On shutdown, SIGTERM to SIGKILL delay")
      ->capture_default_str();
  cmd->add_option("--task-pids-max", f->task_pids_max,
                  "Most processes and threads a task may have at once (its cgroup's pids limit); "
                  "0 for no limit")
      ->capture_default_str();
  cmd->callback([f, &ctx] { ctx.exit_code = RunAgent(*f); });
}

}  // namespace muster::cli
