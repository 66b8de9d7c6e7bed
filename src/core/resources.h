// Fixed-point resource quantities. CPUs are counted in milli-CPUs, memory in MiB, GPUs as whole
// devices (a task gets exclusive GPUs). Never doubles: sums and comparisons are exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"

namespace muster {

using MilliCpu = int64_t;
using MiB = int64_t;

// One accelerator on a node.
struct GpuDevice {
  int index = 0;            // local index, as CUDA enumerates it
  std::string model;        // e.g. "NVIDIA H100 80GB HBM3", or "virtual"
  MiB memory_mib = 0;       // total device memory
  bool is_virtual = false;  // declared with --gpus for testing, not a real device
  std::string uuid;         // the driver's ("GPU-8f2c..."); "" where it gives none
  int minor = -1;           // of its device file /dev/nvidia<minor>; -1 = unknown
};

// What one task asks for. gpu_model empty = any model; min_gpu_memory_mib 0 = any size.
struct ResourceRequest {
  MilliCpu milli_cpus = 1000;
  MiB memory_mib = 256;
  int gpus = 0;
  MiB min_gpu_memory_mib = 0;
  std::string gpu_model;

  // "cpu=1.5 mem=256MiB gpus=2 (>=40960MiB, model H100)".
  std::string ToString() const;
};

// A node's countable capacity (or what is free of it). GPUs are tracked individually by
// NodeSpec/NodeFree; this struct holds the scalar part.
struct ScalarResources {
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  int gpus = 0;

  ScalarResources& operator+=(const ScalarResources& o) {
    milli_cpus += o.milli_cpus;
    memory_mib += o.memory_mib;
    gpus += o.gpus;
    return *this;
  }
  ScalarResources& operator-=(const ScalarResources& o) {
    milli_cpus -= o.milli_cpus;
    memory_mib -= o.memory_mib;
    gpus -= o.gpus;
    return *this;
  }
  bool Covers(const ScalarResources& o) const {
    return milli_cpus >= o.milli_cpus && memory_mib >= o.memory_mib && gpus >= o.gpus;
  }
  bool operator==(const ScalarResources&) const = default;
};

inline ScalarResources ScalarOf(const ResourceRequest& r) {
  return {r.milli_cpus, r.memory_mib, r.gpus};
}

// Parses "1", "1.5", "500m" into milli-CPUs. Returns -1 if malformed.
MilliCpu ParseMilliCpus(const std::string& text);
// Parses "512", "512M", "512MiB", "4G", "4GiB" into MiB. Returns -1 if malformed.
MiB ParseMemoryMiB(const std::string& text);
// Parses "90" or "90s", "1500ms", "30m" (or "30min"), "2h", "7d", decimals allowed, into
// milliseconds. Returns -1 if malformed, negative or not finite.
DurationMs ParseDurationMs(const std::string& text);
// A job's time limit: a duration with units as ParseDurationMs takes, joined ("1h30m"), or one of
// Slurm's forms: "MM" (a bare number is minutes, as in sbatch --time), "MM:SS", "HH:MM:SS",
// "D-HH", "D-HH:MM", "D-HH:MM:SS". Returns -1 if malformed.
DurationMs ParseTimeLimitMs(const std::string& text);
// "1h30m", "45s", "1500ms", "2d": the shortest exact form, for messages.
std::string FormatDurationMs(DurationMs ms);
// "1.5" for 1500 milli-CPUs.
std::string FormatMilliCpus(MilliCpu m);

}  // namespace muster
