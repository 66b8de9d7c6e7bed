// Task graphs (DAGs) for HEFT: tasks with a computation cost on each processor, and edges with
// the communication cost paid when the two tasks run on different processors.
//
// Text format (docs/dag-format.md):
//   # comment                       ('#' starts a comment anywhere; blank lines are ignored)
//   processors <P>                  once, before any task
//   task <name> <w_0> ... <w_{P-1}> computation cost of the task on each processor (>= 0)
//   edge <from> <to> <c>            <from> must finish, and its data arrive (c >= 0, paid only
//                                   across processors), before <to> starts
// Names are unique tokens without whitespace; an edge names tasks defined above it; the graph must
// be acyclic and have no duplicate edges. Pure: parsing takes the text, not a file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace muster::sched {

struct DagTask {
  std::string name;
  std::vector<double> cost;  // per processor
};

struct DagEdge {
  int from = 0;
  int to = 0;
  double comm = 0;
};

struct Dag {
  int processors = 0;
  std::vector<DagTask> tasks;
  std::vector<DagEdge> edges;
};

// Parses the text format above; errors name the offending line.
Result<Dag> ParseDag(std::string_view text);

// Checks shape, costs, edge ends, duplicates and cycles; returns a topological order of the tasks
// (Kahn's algorithm, lowest index first among ready tasks).
Result<std::vector<int>> TopologicalOrder(const Dag& dag);

}  // namespace muster::sched
