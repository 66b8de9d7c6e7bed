// HEFT list scheduling; see heft.h.
#include "sched/heft.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace muster::sched {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double MeanCost(const DagTask& t) {
  double s = 0;
  for (double c : t.cost) s += c;
  return t.cost.empty() ? 0 : s / static_cast<double>(t.cost.size());
}

// True when rank a is to be taken before rank b (a clearly larger).
bool RankAhead(double a, double b) {
  return a - b > 1e-9 * std::max({std::fabs(a), std::fabs(b), 1.0});
}

// Earliest start >= ready of a `length` interval on a processor whose busy slots are sorted.
double EarliestGap(const std::vector<HeftSlot>& busy, double ready, double length) {
  double prev_end = 0;
  for (const HeftSlot& s : busy) {
    const double start = std::max(ready, prev_end);
    if (start + length <= s.start) return start;
    prev_end = std::max(prev_end, s.finish);
  }
  return std::max(ready, prev_end);
}

}  // namespace

std::vector<double> UpwardRanks(const Dag& dag) {
  const int n = static_cast<int>(dag.tasks.size());
  std::vector<std::vector<const DagEdge*>> out(n);
  for (const auto& e : dag.edges) out[e.from].push_back(&e);
  std::vector<double> rank(n, 0);
  const std::vector<int> order = TopologicalOrder(dag).value();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    double tail = 0;
    for (const DagEdge* e : out[*it]) tail = std::max(tail, e->comm + rank[e->to]);
    rank[*it] = MeanCost(dag.tasks[*it]) + tail;
  }
  return rank;
}

Result<HeftSchedule> Heft(const Dag& dag) {
  if (auto order = TopologicalOrder(dag); !order.ok()) return order.status();
  const int n = static_cast<int>(dag.tasks.size());
  const int procs = dag.processors;
  std::vector<std::vector<const DagEdge*>> in(n);
  std::vector<int> waiting(n, 0);
  for (const auto& e : dag.edges) {
    in[e.to].push_back(&e);
    ++waiting[e.to];
  }
  HeftSchedule s;
  s.upward_rank = UpwardRanks(dag);
  s.processor_of.assign(n, -1);
  s.processor_busy.assign(procs, 0);
  std::vector<HeftSlot> slot_of(n);
  std::vector<std::vector<HeftSlot>> timeline(procs);  // sorted by start
  std::vector<char> done(n, 0);
  for (int step = 0; step < n; ++step) {
    int pick = -1;
    for (int i = 0; i < n; ++i) {
      if (done[i] || waiting[i] > 0) continue;
      if (pick < 0 || RankAhead(s.upward_rank[i], s.upward_rank[pick])) pick = i;
    }
    HeftSlot best{.task = pick, .processor = -1, .start = 0, .finish = kInf};
    for (int p = 0; p < procs; ++p) {
      double ready = 0;
      for (const DagEdge* e : in[pick]) {
        const HeftSlot& pred = slot_of[e->from];
        ready = std::max(ready, pred.finish + (pred.processor == p ? 0 : e->comm));
      }
      const double w = dag.tasks[pick].cost[p];
      const double start = EarliestGap(timeline[p], ready, w);
      if (start + w < best.finish)
        best = {.task = pick, .processor = p, .start = start, .finish = start + w};
    }
    auto& line = timeline[best.processor];
    line.insert(
        std::upper_bound(line.begin(), line.end(), best,
                         [](const HeftSlot& a, const HeftSlot& b) { return a.start < b.start; }),
        best);
    slot_of[pick] = best;
    done[pick] = 1;
    for (const auto& e : dag.edges) {
      if (e.from == pick) --waiting[e.to];
    }
    s.order.push_back(pick);
    s.rows.push_back(best);
    s.processor_of[pick] = best.processor;
    s.processor_busy[best.processor] += best.finish - best.start;
    s.makespan = std::max(s.makespan, best.finish);
  }
  return s;
}

}  // namespace muster::sched
