// The task keeper's process (task_keeper.h), entered in the forked child. Not a public interface.
#pragma once

#include <cstdint>

namespace muster::agent::keeper_internal {

// Runs the keeper on its listening socket (-1: none) and its first agent's link; never returns.
// System calls only (see task_keeper_loop.cc).
[[noreturn]] void Keep(int listen_fd, int agent_fd, int64_t grace_ms);

}  // namespace muster::agent::keeper_internal
