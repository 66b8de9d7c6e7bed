// Placeholder until the sim commands land.
#include "cli/commands.h"

namespace muster::cli {

void AddSimCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
