// Placeholder until the agent command lands.
#include "cli/commands.h"

namespace muster::cli {

void AddAgentCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
