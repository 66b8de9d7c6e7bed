// Placeholder until the up command lands.
#include "cli/commands.h"

namespace muster::cli {

void AddUpCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
