// Placeholder until the client command lands.
#include "cli/commands.h"

namespace muster::cli {

void AddClientCommands(CLI::App& app, CommandContext& ctx) {}

}  // namespace muster::cli

namespace muster::cli {
int ShowClusterSchedule(const std::string&, bool) { return kExitUnavailable; }
}  // namespace muster::cli
