// `muster train [ARGS...]`: runs the libtorch trainer. libtorch stays out of the `muster` binary
// (it costs ~0.5 s and 170 MB at every start, see DESIGN.md), so this command execs the
// `muster-train` executable that is installed beside `muster` (or $MUSTER_TRAIN_BIN), passing
// every argument through unchanged; its exit status becomes ours. `muster train --help` shows
// the trainer's own flags.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace muster::cli {
namespace {

// muster-train beside the running executable (resolved through /proc/self/exe).
std::string TrainerPath() {
  if (const char* env = std::getenv("MUSTER_TRAIN_BIN"); env != nullptr && *env) return env;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "muster-train";
  return (self.parent_path() / "muster-train").string();
}

int ExecTrainer(const std::vector<std::string>& args) {
  const std::string path = TrainerPath();
  if (::access(path.c_str(), X_OK) != 0) {
    std::cerr << "muster: the trainer " << path
              << " is missing; build it with -DMUSTER_BUILD_TRAIN=ON (target muster-train) "
                 "or point MUSTER_TRAIN_BIN at it"
              << std::endl;
    return kExitFailed;
  }
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  std::string name = path;
  argv.push_back(name.data());
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  ::execv(path.c_str(), argv.data());
  std::cerr << "muster: cannot run " << path << ": " << std::strerror(errno) << std::endl;
  return kExitFailed;
}

}  // namespace

void AddTrainCommand(CLI::App& app, CommandContext& ctx) {
  CLI::App* train = app.add_subcommand(
      "train",
      "Train the Fashion-MNIST CNN data-parallel (runs muster-train; see `muster train --help`)");
  train->prefix_command();  // everything after `train` belongs to muster-train
  train->set_help_flag();   // so that --help reaches muster-train too
  train->callback([train, &ctx] { ctx.exit_code = ExecTrainer(train->remaining()); });
}

}  // namespace muster::cli
