// Test harness for the cluster integration tests: runs the real `muster` binary as a coordinator,
// agents (with virtual GPUs) and CLI commands, on 127.0.0.1 with ephemeral ports, in a fresh
// temporary directory. Every wait has a timeout, so a broken build fails a test instead of
// hanging it; the destructor kills every process it started (and their process groups) and
// removes the directory unless MUSTER_KEEP_TEST_DIRS is set.
//
// Assumes the binary path is compiled in as MUSTER_BINARY (see tests/cluster.cmake).
// Thread-safety: one TestCluster per test, used from the test's thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cluster/client/coordinator_client.h"
#include "cluster/common/convert.h"
#include "cluster/common/credentials.h"

namespace muster::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace v1 = ::muster::v1;
using cluster::StateName;  // a wire job or task state by its name

// Path of the muster binary under test.
std::string MusterBinary();

struct CommandResult {
  int exit_code = -1;  // -1 if it timed out or died from a signal
  bool timed_out = false;
  std::string out;
  std::string err;
};

// A child process whose stdout/stderr go to files. Killed (whole process group) on destruction.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  // Starts argv[0] with `argv` and the current environment plus `env`, in its own process group.
  bool Start(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
             const std::map<std::string, std::string>& env = {});
  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig` to the process (only, not its group).
  void Signal(int sig);
  // Waits for exit; returns the exit code, or nullopt on timeout (-1 if killed by a signal).
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, up to `grace` for exit, then SIGKILL to the process and its group.
  void Stop(std::chrono::milliseconds grace = 2000ms);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Runs `muster args...` to completion (or `timeout`), capturing stdout and stderr.
CommandResult RunMuster(const std::vector<std::string>& args,
                        std::chrono::milliseconds timeout = 20s,
                        const std::map<std::string, std::string>& env = {});

// Runs argv (argv[0] a path) to completion (or `timeout`), capturing stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = 20s,
                         const std::map<std::string, std::string>& env = {});

// `muster args...` as Unix user `user` (setpriv, with that user's groups). Needs root.
CommandResult RunMusterAs(const std::string& user, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = 20s,
                          const std::map<std::string, std::string>& env = {});

// A Unix user made for one test (useradd --system) and deleted with it. Needs root: ok() is false
// otherwise, with error() saying why.
class TestUnixUser {
 public:
  explicit TestUnixUser(const std::string& prefix = "mustert");
  ~TestUnixUser();
  TestUnixUser(const TestUnixUser&) = delete;
  TestUnixUser& operator=(const TestUnixUser&) = delete;
  bool ok() const { return !name_.empty(); }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  const std::string& error() const { return error_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  std::string error_;
};

std::string ReadFile(const fs::path& p);

struct ClusterOptions {
  int agents = 2;
  int gpus_per_agent = 2;
  int cpus_per_agent = 8;
  std::string heartbeat = "200ms";
  std::string heartbeat_timeout = "2s";
  std::string lost_node_timeout = "3s";
  std::string fence_grace = "1s";
  std::vector<std::string> coordinator_args;  // extra flags
  // Every process on a host of its own (netns.h): the coordinator on host 0 (10.213.0.1:7070),
  // agent i on host i+1, linked to the coordinator through a relay on its own host (for
  // SetAgentLatency). This test process and the CLI reach the coordinator through a relay on the
  // machine's loopback. Needs root and iproute2: Start() says so otherwise (network_error()).
  bool network_hosts = false;
  // > 0: the coordinator's state dir is a tmpfs of this many MiB (FillStateDisk). Needs root.
  int state_tmpfs_mib = 0;
};

class NetworkHosts;  // tests/helpers/netns.h
class TcpRelay;

class TestCluster {
 public:
  explicit TestCluster(ClusterOptions options = {});
  ~TestCluster();

  // Starts the coordinator and all agents and waits until every agent is registered and ready.
  // Returns an empty string on success, else what went wrong (with the tails of the logs).
  std::string Start();

  std::string StartCoordinator();  // "" on success; (re)reads coordinator.addr
  void KillCoordinator(int sig);   // and waits for it to exit
  std::string StartAgent(int i);   // agent "node-<i>" with the configured GPUs
  void KillAgent(int i, int sig);  // and waits for it to exit
  void SignalAgent(int i, int sig);  // without waiting (SIGSTOP, SIGCONT)
  // Network faults (ClusterOptions::network_hosts): every packet to and from agent i's host, or
  // the coordinator's, is dropped / let through again. False (with an ADD_FAILURE) if it fails.
  bool CutAgent(int i);
  bool HealAgent(int i);
  bool CutCoordinator();
  bool HealCoordinator();
  // Holds agent i's traffic with the coordinator back by `ms` each way (0: none).
  void SetAgentLatency(int i, int ms);
  // Why network_hosts cannot be had here ("" when it can, or was not asked for).
  std::string network_error() const;
  // ClusterOptions::state_tmpfs_mib: fills the state dir's disk to the last byte / frees it.
  bool FillStateDisk();
  void FreeStateDisk();
  // Waits until `n` nodes are ready (state "ready"); false on timeout.
  bool WaitForReadyNodes(int n, std::chrono::milliseconds timeout = 15s);

  const std::string& address() const { return address_; }
  const fs::path& dir() const { return dir_; }
  fs::path state_dir() const { return dir_ / "state"; }
  // The coordinator's HTTP URL (https://HOST:PORT), with --http among coordinator_args; "" if none.
  std::string HttpUrl() const {
    std::string url = ReadFile(state_dir() / "coordinator.http");
    url.erase(url.find_last_not_of('\n') + 1);
    return url;
  }
  // The coordinator's local socket (local_auth.h): how this process and the CLI authenticate.
  std::string LocalSocket() const { return (state_dir() / cluster::kLocalAuthSocketName).string(); }
  client::CoordinatorClient& client() { return *client_; }
  // Options for another client of this cluster's coordinator, as the cluster's owner: its local
  // socket for the credential, its CA for TLS.
  client::ClientOptions OwnerClientOptions(std::chrono::milliseconds deadline = 5000ms) const;

  // `muster ARGS... --coordinator ADDR` (the flag is added after the subcommand's arguments,
  // before any `--`), with MUSTER_STATE_DIR set to the cluster's state dir.
  CommandResult Muster(std::vector<std::string> args, std::chrono::milliseconds timeout = 20s);
  // The same, run as Unix user `user` (RunMusterAs).
  CommandResult MusterAs(const std::string& user, std::vector<std::string> args,
                         std::chrono::milliseconds timeout = 20s);
  // Submits via the CLI with -q and returns the job id (0 and an ADD_FAILURE on error).
  int64_t Submit(const std::vector<std::string>& args);
  // Polls GetJob until the job is in a terminal state; returns it (with a state saying that it
  // had not ended, if it has not within `timeout`).
  v1::JobInfo WaitForJob(int64_t id, std::chrono::milliseconds timeout = 60s);
  // The last lines of every log file of the cluster's processes, for failure messages.
  std::string LogTails() const;

 private:
  // args with "--coordinator ADDR" after the subcommand's arguments, before any "--".
  std::vector<std::string> WithCoordinator(std::vector<std::string> args) const;

  // argv run on host `host` of the network (unchanged without network_hosts).
  std::vector<std::string> OnHost(int host, std::vector<std::string> argv) const;

  ClusterOptions options_;
  std::unique_ptr<NetworkHosts> net_;
  std::unique_ptr<TcpRelay> client_relay_;               // loopback -> the coordinator's host
  std::vector<std::unique_ptr<TcpRelay>> agent_relays_;  // on agent i's host -> the coordinator
  bool tmpfs_mounted_ = false;
  fs::path dir_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> agents_;
  std::unique_ptr<client::CoordinatorClient> client_;
  int coordinator_starts_ = 0;
};

}  // namespace muster::testing
