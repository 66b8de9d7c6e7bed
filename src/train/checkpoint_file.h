// Checkpoint files on disk, in one directory, written atomically:
// `ckpt-a<attempt, at least 6 digits>-<step, 12 digits>.pt` (attempt 0, as older versions wrote it:
// `ckpt-<step, 12 digits>.pt`). Each attempt of a task writes under its own name, so a late
// writer of an older attempt (one being stopped) cannot replace what a newer attempt wrote.
//
// Write: the bytes go to a temporary file in the same directory, which is fsync'ed and renamed
// over the final name, and the directory is fsync'ed; a crash at any point leaves either the old
// set of checkpoints or the old set plus the new one, never a partial file under a final name.
// Older checkpoints beyond `keep` are then deleted. Latest: the highest (attempt, step) among
// the final names, i.e. the newest complete checkpoint of the newest attempt that wrote one
// (temporary files are ignored). The content is opaque here (the trainer serialises).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace muster::train {

struct CheckpointBlob {
  std::string path;
  int64_t attempt = 0;
  int64_t step = 0;
  std::string bytes;
};

// Atomically writes `bytes` as the checkpoint for `step` in `dir` (created if missing) and keeps
// the newest `keep` checkpoints. Returns the final path, or Internal naming the failing call.
Result<std::string> WriteCheckpointFile(const std::string& dir, int64_t step,
                                        const std::string& bytes, int keep = 2,
                                        int64_t attempt = 0);

// The newest checkpoint in `dir`; nullopt when the directory is missing or holds none.
Result<std::optional<CheckpointBlob>> ReadLatestCheckpoint(const std::string& dir);

}  // namespace muster::train
