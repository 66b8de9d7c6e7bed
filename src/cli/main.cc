// The `muster` command: a thin dispatcher over the subcommands each area registers.
#include <iostream>

#include "cli/commands.h"
#include "cli/usage_error.h"

int main(int argc, char** argv) {
  CLI::App app{"muster: GPU-cluster workload manager and load balancer"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "muster 0.1.0");
  muster::cli::CommandContext ctx;
  muster::cli::AddClusterCommands(app, ctx);
  muster::cli::AddScheduleCommand(app, ctx);
  muster::cli::AddModelCommands(app, ctx);
  muster::cli::AddTrainCommand(app, ctx);
  muster::cli::AddSimCommand(app, ctx);
  muster::cli::AddCompletionCommand(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version (exit code 0) print through CLI11; usage errors get one line.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "muster: " << muster::cli::DescribeUsageError(app, e, argc, argv) << std::endl;
    return muster::cli::kExitUsage;
  }
  return ctx.exit_code;
}
