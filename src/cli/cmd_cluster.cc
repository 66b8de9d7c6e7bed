// Registers the cluster subcommands; each lives in its own file.
#include "cli/commands.h"

namespace muster::cli {

void AddCoordinatorCommand(CLI::App& app, CommandContext& ctx);  // cmd_coordinator.cc
void AddAgentCommand(CLI::App& app, CommandContext& ctx);        // cmd_agent.cc
void AddUpCommand(CLI::App& app, CommandContext& ctx);           // cmd_up.cc
void AddClientCommands(CLI::App& app, CommandContext& ctx);      // cmd_client.cc
void AddBalanceCommand(CLI::App& app, CommandContext& ctx);      // cmd_balance.cc
void AddTopCommand(CLI::App& app, CommandContext& ctx);          // cmd_top.cc
void AddAdminCommands(CLI::App& app, CommandContext& ctx);       // cmd_admin.cc

void AddClusterCommands(CLI::App& app, CommandContext& ctx) {
  AddUpCommand(app, ctx);
  AddCoordinatorCommand(app, ctx);
  AddAgentCommand(app, ctx);
  AddClientCommands(app, ctx);
  AddBalanceCommand(app, ctx);
  AddTopCommand(app, ctx);
  AddAdminCommands(app, ctx);
}

}  // namespace muster::cli
