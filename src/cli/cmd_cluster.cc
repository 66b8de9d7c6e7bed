// Placeholder until the cluster commands land.
#include "cli/commands.h"

namespace muster::cli {

void AddClusterCommands(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli

namespace muster::cli {
int ShowClusterSchedule(const std::string&, bool) { return kExitUnavailable; }
}  // namespace muster::cli
