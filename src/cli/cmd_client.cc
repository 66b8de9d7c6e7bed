// The user-facing client commands: registration and the helpers they share (cmd_client.h).
// Each command lives in its own cmd_<name>.cc.
#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "cluster/common/coordinator_list.h"
#include "core/resources.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace muster::cli {

namespace {
std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) {
  g_interrupted.store(true);
}
}  // namespace

void AddClientFlags(CLI::App& cmd, ClientFlags& flags, bool with_output) {
  cmd.add_option("--coordinator", flags.coordinator,
                 "coordinator address HOST:PORT, or the list of a cluster's coordinators "
                 "HOST:PORT,HOST:PORT (whichever leads answers; default: $MUSTER_COORDINATOR, "
                 "else the one in the state dir, else 127.0.0.1:7070)");
  cmd.add_flag("--insecure", flags.insecure,
               "plaintext, to a coordinator started with --insecure (default: TLS, checked "
               "against the cluster CA)");
  cmd.add_option("--state-dir", flags.state_dir,
                 "state dir of a coordinator on this machine, for its address and its local "
                 "socket (default: $MUSTER_STATE_DIR or ~/.local/state/muster)");
  cmd.add_flag_callback(
      "--absolute", [] { client::UseAbsoluteTimes(true); },
      "times as UTC dates (2026-12-01 23:12:52) instead of relative (5s ago, in 3m)");
  if (with_output)
    cmd.add_option("-o,--output", flags.output, "output format: table or json")
        ->check(CLI::IsMember({"table", "json"}));
}

client::CoordinatorClient MakeClient(const ClientFlags& flags, std::chrono::milliseconds deadline) {
  client::ClientOptions o{
      .address = client::ResolveCoordinatorAddress(flags.coordinator, flags.state_dir),
      .deadline = deadline,
      .credentials = cluster::TokenSource::Resolve(flags.state_dir)};
  auto transport = cluster::ResolveClientTransport(flags.state_dir, "", flags.insecure);
  auto list = cluster::ParseCoordinatorList(o.address);
  if (!list.ok()) transport = list.status();
  for (const std::string& a : list.ok() ? *list : std::vector<std::string>{}) {
    const std::string host = a.substr(0, a.rfind(':'));
    if (transport.ok() && transport->insecure && !cluster::IsLoopbackHost(host))
      transport = Status::InvalidArgument("--insecure is refused for " + a +
                                          ": plaintext only to a loopback address");
  }
  if (transport.ok())
    if (Status c = cluster::AttachClientCertificate(&*transport); !c.ok()) transport = c;
  // The same coordinator on this machine: by its Unix socket (credentials.h), unless the caller
  // proves who it is with a certificate, which only the TLS handshake carries.
  if (transport.ok() && transport->cert_pem.empty()) {
    const std::string dir = flags.state_dir.empty() ? cluster::DefaultStateDir() : flags.state_dir;
    if (std::string local = cluster::FindLocalGrpcSocket(dir, o.address); !local.empty())
      o.dial = "unix:" + local;
  }
  if (transport.ok())
    o.transport = *transport;
  else
    o.setup_error = transport.status();
  return client::CoordinatorClient(std::move(o));
}

void WarnIfReadOnly(const std::string& condition) {
  if (!condition.empty()) std::cerr << "muster: warning: " << condition << std::endl;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kAlreadyExists:
      return kExitUsage;
    case StatusCode::kUnavailable:
      return kExitUnavailable;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kInfeasible:
    case StatusCode::kUnschedulable:
      return kExitInfeasible;
    case StatusCode::kPermissionDenied:
      return kExitPermissionDenied;
    case StatusCode::kUnauthenticated:
      return kExitUnauthenticated;
    default:
      return kExitFailed;
  }
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int ReportError(const Status& status) {
  std::string msg = status.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fflush(stdout);
  std::cerr << "muster: " << msg << std::endl;
  return ExitCodeFor(status);
}

std::optional<int64_t> ParseJobId(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  int64_t v = std::stoll(text);
  if (v <= 0) return std::nullopt;
  return v;
}

void CatchInterrupts() {
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

const std::atomic<bool>& Interrupted() {
  return g_interrupted;
}

void AddFilterFlags(CLI::App& cmd, JobFilter& f) {
  cmd.add_option("--user", f.user, "only this user's jobs");
  cmd.add_flag("--me", f.me, "only your own jobs");
  cmd.add_option("--state", f.states,
                 "only jobs in these states: pending, running, succeeded, failed, cancelled, "
                 "timeout, oom (repeatable, or a,b)")
      ->delimiter(',');
  cmd.add_option("--name", f.name, "only jobs of this name");
}

std::optional<int64_t> ParseSince(const std::string& s, int64_t now_ms) {
  if (const DurationMs age = ParseDurationMs(s); age >= 0)
    return now_ms - age;  // an age: 90m, 12h, 7d
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3)
    return std::nullopt;
  if (static_cast<size_t>(consumed) != s.size() &&
      std::sscanf(s.c_str() + consumed, "%*[ T]%d:%d:%d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  &consumed) != 3)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

Status FillFilter(const JobFilter& f, v1::ListJobsRequest& req) {
  if (f.me && !f.user.empty()) return Status::InvalidArgument("give --me or --user, not both");
  req.set_user(f.me ? "@me" : f.user);
  req.set_name(f.name);
  for (const auto& s : f.states)
    if (Status e = client::AddStateFilter(s, req); !e.ok()) return e;
  if (!f.since.empty()) {
    const DurationMs age = ParseDurationMs(f.since);
    if (age < 0)
      return Status::InvalidArgument("--since: '" + f.since + "' is not a duration like 7d or 12h");
    req.set_since_ms(WallNowMs() - age);
  }
  return Status::Ok();
}

void AddClientCommands(CLI::App& app, CommandContext& ctx) {
  AddSubmitCommand(app, ctx);
  AddQueueCommands(app, ctx);
  AddAcctCommand(app, ctx);
  AddCancelCommand(app, ctx);
  AddLogsCommand(app, ctx);
  AddNodesCommand(app, ctx);
  AddWhoAmICommand(app, ctx);
}

}  // namespace muster::cli
