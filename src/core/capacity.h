// Capacity arithmetic on one node: whether a task fits in what is free now, taking its share and
// giving it back. This is the only place in muster that does it: the scheduler's feasibility
// checks, the coordinator's plan applier and node views, the balancer's rooms and what-if, and
// the simulator all call these functions, so their checks (CPU, memory, GPU count, each GPU free
// and matching the request's model and memory constraints) cannot disagree.
//
// A task of request r holds r.milli_cpus, r.memory_mib and exactly r.gpus whole GPUs, named by
// their local index into NodeSpec::gpus; NodeFree::gpu_free has one entry per GPU of the spec
// (a shorter vector counts the missing GPUs as busy).
//
// Pure and stateless: no I/O; safe to call from any thread on data the caller owns.
#pragma once

#include <span>
#include <vector>

#include "core/node.h"

namespace muster {

// GPUs of `node` that satisfy r's per-GPU constraints (minimum memory, model substring).
int MatchingGpus(const NodeSpec& node, const ResourceRequest& r);

// GPUs of `node` that are free in `free` and satisfy r's per-GPU constraints.
int FreeMatchingGpus(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r);

// How many tasks of r an idle node of this spec holds at once; 0 when it cannot hold one.
int IdleTasksThatFit(const NodeSpec& node, const ResourceRequest& r);
// How many more tasks of r fit in `free` at once (each needs its own r.gpus free matching GPUs).
int FreeTasksThatFit(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r);

// Why one task does not fit on a node now.
enum class Misfit {
  kNone,         // it fits
  kCpu,          // not enough free CPU
  kMemory,       // not enough free memory
  kGpuCount,     // the GPUs named are not r.gpus of them, or too few free matching GPUs
  kGpuUnknown,   // a GPU index the node does not have
  kGpuBusy,      // a GPU named is already held
  kGpuMismatch,  // a GPU named does not satisfy the request's model or memory
};
// "not enough free CPU", ...; "" for kNone.
const char* MisfitText(Misfit m);

// Whether one task of r fits on `free` holding exactly `gpus`.
Misfit CheckFit(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r,
                std::span<const int> gpus);
inline bool Fits(const NodeSpec& node, const NodeFree& free, const ResourceRequest& r,
                 std::span<const int> gpus) {
  return CheckFit(node, free, r, gpus) == Misfit::kNone;
}

// Debits one task holding `gpus`, without checking: CPU and memory may go negative (a view of
// tasks that already hold the node, e.g. after the node came back smaller); GPU indices outside
// the node are ignored. Use TryTake to place something new.
void Take(NodeFree& free, const ResourceRequest& r, std::span<const int> gpus);
// Credits back exactly what Take debited.
void Release(NodeFree& free, const ResourceRequest& r, std::span<const int> gpus);

// The outcome of TryTake: the GPUs taken when it fits, or why not.
struct Fit {
  Misfit misfit = Misfit::kNone;
  std::vector<int> gpus;
  bool ok() const { return misfit == Misfit::kNone; }
};

// CheckFit, then Take. With `want` empty the task gets the lowest-numbered free matching GPUs;
// otherwise exactly `want`. On a misfit `free` is unchanged.
Fit TryTake(const NodeSpec& node, NodeFree& free, const ResourceRequest& r,
            std::span<const int> want = {});
// TryTake with `want` when those GPUs fit, else with the lowest free matching ones (a move that
// prefers the GPUs its decision named, but takes others when they went meanwhile).
Fit TryTakePreferring(const NodeSpec& node, NodeFree& free, const ResourceRequest& r,
                      std::span<const int> want);

}  // namespace muster
