// The data-parallel environment of a trainer process, read from the variables torchrun sets
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT); muster's agent sets
// the same ones for gang tasks. With none of them set the process trains alone (world 1).
// Pure: the environment arrives through a lookup function, so tests pass a map.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/status.h"

namespace muster::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;

  bool distributed() const { return world_size > 1; }
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Parses the variables. InvalidArgument (one line naming the variable) when a value is not a
// number, out of range, or RANK/WORLD_SIZE are inconsistent; world 1 when WORLD_SIZE is unset.
Result<DistEnv> ParseDistEnv(const EnvLookup& lookup);

// ParseDistEnv over the process environment (getenv).
Result<DistEnv> DistEnvFromProcess();

}  // namespace muster::train
