// Subcommand registration for the `muster` binary. Each area registers its own subcommands on
// the root app; a command reports its exit status through CommandContext::exit_code.
//
// Exit codes (documented in docs/user-guide.md):
//   0 success; 1 the job (or command's work) failed or was cancelled; 2 bad usage or bad input;
//   3 coordinator unreachable; 4 unknown id; 5 request rejected as infeasible; 6 permission denied;
//   7 not authenticated (no or an invalid credential); 130 interrupted.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace muster::cli {

enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitUnavailable = 3,
  kExitNotFound = 4,
  kExitInfeasible = 5,
  kExitPermissionDenied = 6,
  kExitUnauthenticated = 7,
  kExitInterrupted = 130,
};

struct CommandContext {
  int exit_code = kExitOk;
};

// `muster model exec|balance` (src/cli/cmd_model.cc).
void AddModelCommands(CLI::App& app, CommandContext& ctx);
// `muster schedule` (src/cli/cmd_schedule.cc): offline --etc/--dag, else the cluster's table.
void AddScheduleCommand(CLI::App& app, CommandContext& ctx);
// `muster up|coordinator|agent|submit|queue|show|cancel|logs|nodes` (src/cli/cmd_cluster*.cc).
void AddClusterCommands(CLI::App& app, CommandContext& ctx);
// `muster train` (src/cli/cmd_train.cc): runs the muster-train executable.
void AddTrainCommand(CLI::App& app, CommandContext& ctx);
// `muster completion bash|zsh` (src/cli/cmd_completion.cc): walks `app` when it runs.
void AddCompletionCommand(CLI::App& app, CommandContext& ctx);
// `muster sim` (src/cli/cmd_sim.cc).
void AddSimCommand(CLI::App& app, CommandContext& ctx);
// A comma list of numbers ("3600,36000", as --las-thresholds; empty items are skipped), or
// nullopt with the item that is not a number in *bad (cmd_sim.cc).
std::optional<std::vector<double>> ParseNumberList(const std::string& text, std::string* bad);

// Shows the running cluster's schedule table; used by `muster schedule` without --etc/--dag.
// With include_finished, finished tasks are listed too and the table is followed by each node's
// busy time over the run and the balance metrics of those busy times. Returns an exit code.
// `coordinator` and `state_dir` as the client commands' --coordinator and --state-dir.
int ShowClusterSchedule(const std::string& coordinator, const std::string& state_dir, bool json,
                        bool include_finished);
// `muster schedule --accuracy` (cmd_nodes.cc): how the predictions made at submit fared for the
// jobs that succeeded since `since` ("7d", or a date), per class (only `job_class` if not "").
int ShowPredictionAccuracy(const std::string& coordinator, const std::string& state_dir, bool json,
                           const std::string& since, const std::string& job_class);

}  // namespace muster::cli
