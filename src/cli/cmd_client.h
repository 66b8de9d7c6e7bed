// Shared pieces of the client commands (`submit`, `queue`, `show`, `cancel`, `logs`, `nodes`,
// `schedule`): the --coordinator/-o options, the one-line error report with its exit code, and
// Ctrl-C handling for commands that follow a job.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cluster/client/coordinator_client.h"
#include "cluster/common/convert.h"
#include "core/status.h"

namespace muster::cli {

using cluster::StateName;  // a wire job or task state by the name users see

struct ClientFlags {
  std::string coordinator;       // empty = $MUSTER_COORDINATOR, the state dir's, or the default
  std::string state_dir;         // empty = $MUSTER_STATE_DIR or ~/.local/state/muster
  std::string output = "table";  // table | json
  bool insecure = false;         // plaintext, to a coordinator started with --insecure
  bool json() const { return output == "json"; }
};

// Adds --coordinator, --state-dir and, when `with_output`, -o/--output table|json to `cmd`.
void AddClientFlags(CLI::App& cmd, ClientFlags& flags, bool with_output = true);

// A client for the coordinator named by `flags` (or the environment / default), with the
// credential credentials.h resolves; each unary call gives up after `deadline`.
client::CoordinatorClient MakeClient(const ClientFlags& flags,
                                     std::chrono::milliseconds deadline = std::chrono::seconds(10));

// Exit code for an error status (see commands.h).
// A read-only coordinator (its store cannot write) says so on every listing: one line on stderr.
void WarnIfReadOnly(const std::string& condition);
int ExitCodeFor(const Status& status);

// Prints "muster: <message>" on stderr (one line) and returns ExitCodeFor(status).
int ReportError(const Status& status);

// Wall-clock milliseconds since the Unix epoch (the coordinator's timestamps use the same scale).
int64_t WallNowMs();

// WHEN as milliseconds since the epoch: an age before now_ms (90m, 12h, 7d) or a UTC date
// (YYYY-MM-DD[ HH:MM:SS]); nullopt when it is neither.
std::optional<int64_t> ParseSince(const std::string& s, int64_t now_ms);

// Parses a job id ("12"); nullopt if malformed.
std::optional<int64_t> ParseJobId(const std::string& text);

// Installs a SIGINT/SIGTERM handler that sets Interrupted() instead of killing the process.
void CatchInterrupts();
// True once Ctrl-C was pressed after CatchInterrupts().
const std::atomic<bool>& Interrupted();

// Follows job `id` until it finishes (live progress on stdout, or quiet in json mode) and returns
// 0 if it succeeded, 1 if it failed or was cancelled, 130 if interrupted (cmd_wait.cc).
int WaitForJob(client::CoordinatorClient& client, int64_t id, bool json);

// Which jobs: the filter flags of queue, history and cancel (--user, --me, --state, --name; the
// caller sets `since` for history).
struct JobFilter {
  std::string user, name, since;
  std::vector<std::string> states;
  bool me = false;
  bool empty() const { return user.empty() && name.empty() && states.empty() && !me; }
};
void AddFilterFlags(CLI::App& cmd, JobFilter& f);
// Puts the filter into a ListJobs request; InvalidArgument for contradictory or bad values.
Status FillFilter(const JobFilter& f, v1::ListJobsRequest& req);

void AddSubmitCommand(CLI::App& app, CommandContext& ctx);  // cmd_submit.cc
void AddQueueCommands(CLI::App& app, CommandContext& ctx);  // cmd_queue.cc: queue, show
void AddCancelCommand(CLI::App& app, CommandContext& ctx);  // cmd_cancel.cc
void AddAcctCommand(CLI::App& app, CommandContext& ctx);    // cmd_acct.cc
void AddLogsCommand(CLI::App& app, CommandContext& ctx);    // cmd_logs.cc
void AddNodesCommand(CLI::App& app, CommandContext& ctx);   // cmd_nodes.cc (and the schedule table)
void AddUserCommands(CLI::App& admin, CommandContext& ctx);  // cmd_users.cc: `admin user ...`
void AddWhoAmICommand(CLI::App& app, CommandContext& ctx);   // cmd_users.cc

}  // namespace muster::cli
