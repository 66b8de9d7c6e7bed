// DAG parsing and validation; see heft_dag.h.
#include "sched/heft_dag.h"
#include "sched/text_tokens.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <queue>
#include <set>
#include <utility>

namespace muster::sched {
namespace {

bool ParseCost(std::string_view s, double& out) {
  return ParseWholeDouble(s, out) && std::isfinite(out) && out >= 0;
}

Status LineError(int line, const std::string& what) {
  return Status::InvalidArgument("line " + std::to_string(line) + ": " + what);
}

}  // namespace

Result<Dag> ParseDag(std::string_view text) {
  Dag dag;
  std::map<std::string, int, std::less<>> index;
  std::set<std::pair<int, int>> seen_edges;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const auto tok = Tokens(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (tok.empty()) continue;
    if (tok[0] == "processors") {
      if (dag.processors > 0) return LineError(line_no, "'processors' given twice");
      int p = 0;
      if (tok.size() != 2 ||
          std::from_chars(tok[1].data(), tok[1].data() + tok[1].size(), p).ptr !=
              tok[1].data() + tok[1].size() ||
          p <= 0) {
        return LineError(line_no, "expected 'processors <P>' with P a positive integer");
      }
      dag.processors = p;
    } else if (tok[0] == "task") {
      if (dag.processors == 0) return LineError(line_no, "'processors <P>' must come before tasks");
      if (tok.size() != static_cast<size_t>(dag.processors) + 2) {
        return LineError(line_no, "expected 'task <name>' and " + std::to_string(dag.processors) +
                                      " costs, one per processor");
      }
      DagTask t{.name = std::string(tok[1]), .cost = {}};
      if (index.count(t.name)) return LineError(line_no, "task '" + t.name + "' defined twice");
      for (size_t i = 2; i < tok.size(); ++i) {
        double c = 0;
        if (!ParseCost(tok[i], c)) {
          return LineError(line_no, "'" + std::string(tok[i]) + "' is not a non-negative number");
        }
        t.cost.push_back(c);
      }
      index[t.name] = static_cast<int>(dag.tasks.size());
      dag.tasks.push_back(std::move(t));
    } else if (tok[0] == "edge") {
      if (tok.size() != 4) return LineError(line_no, "expected 'edge <from> <to> <cost>'");
      auto from = index.find(tok[1]), to = index.find(tok[2]);
      for (auto [it, name] : {std::pair{from, tok[1]}, std::pair{to, tok[2]}}) {
        if (it == index.end()) {
          return LineError(line_no, "edge names unknown task '" + std::string(name) +
                                        "' (define tasks before their edges)");
        }
      }
      if (from->second == to->second) return LineError(line_no, "an edge cannot loop on a task");
      double c = 0;
      if (!ParseCost(tok[3], c)) {
        return LineError(line_no, "'" + std::string(tok[3]) + "' is not a non-negative number");
      }
      if (!seen_edges.insert({from->second, to->second}).second) {
        return LineError(line_no,
                         "duplicate edge " + std::string(tok[1]) + " -> " + std::string(tok[2]));
      }
      dag.edges.push_back({from->second, to->second, c});
    } else {
      return LineError(line_no, "unknown keyword '" + std::string(tok[0]) +
                                    "' (expected processors, task or edge)");
    }
  }
  if (dag.processors == 0) return Status::InvalidArgument("no 'processors <P>' line");
  if (dag.tasks.empty()) return Status::InvalidArgument("the DAG has no tasks");
  auto order = TopologicalOrder(dag);
  if (!order.ok()) return order.status();
  return dag;
}

Result<std::vector<int>> TopologicalOrder(const Dag& dag) {
  const int n = static_cast<int>(dag.tasks.size());
  if (dag.processors <= 0) return Status::InvalidArgument("a DAG needs at least one processor");
  for (const auto& t : dag.tasks) {
    if (static_cast<int>(t.cost.size()) != dag.processors) {
      return Status::InvalidArgument("task '" + t.name + "' needs one cost per processor");
    }
  }
  std::vector<int> indegree(n, 0);
  std::vector<std::vector<int>> succ(n);
  for (const auto& e : dag.edges) {
    if (e.from < 0 || e.from >= n || e.to < 0 || e.to >= n) {
      return Status::InvalidArgument("edge refers to a task index out of range");
    }
    succ[e.from].push_back(e.to);
    ++indegree[e.to];
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i) {
    if (indegree[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int j : succ[i]) {
      if (--indegree[j] == 0) ready.push(j);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (indegree[i] > 0) {
        return Status::InvalidArgument("the graph has a cycle through task '" + dag.tasks[i].name +
                                       "'");
      }
    }
  }
  return order;
}

}  // namespace muster::sched
