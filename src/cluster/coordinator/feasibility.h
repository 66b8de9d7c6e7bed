// Submit-time feasibility: could this job ever run on the registered nodes, assuming they were
// idle? A plain or array job needs one node that could hold one task (NodeSpec::CouldEverFit);
// a gang needs the idle cluster to hold all of its ranks at once (honouring ranks_per_node).
// The error names the largest node (most GPUs, then CPUs, then memory) so the user sees what the
// cluster offers. Pure.
#pragma once

#include <vector>

#include "core/job.h"
#include "core/node.h"
#include "core/status.h"

namespace muster::cluster {

// Ok, or kInfeasible with one message naming the largest node. `nodes` must not be empty.
Status CheckFeasible(const JobSpec& spec, const std::vector<NodeSpec>& nodes);

}  // namespace muster::cluster
