// Placeholder until the schedule commands land.
#include "cli/commands.h"

namespace muster::cli {

void AddScheduleCommand(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli
