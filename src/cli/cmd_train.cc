// Placeholder until the train commands land.
#include "cli/commands.h"

namespace muster::cli {

void AddTrainCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
