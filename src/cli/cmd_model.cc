// Placeholder until the model commands land.
#include "cli/commands.h"

namespace muster::cli {

void AddModelCommands(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
