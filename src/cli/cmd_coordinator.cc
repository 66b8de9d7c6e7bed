// Placeholder until the coordinator command lands.
#include "cli/commands.h"

namespace muster::cli {

void AddCoordinatorCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
