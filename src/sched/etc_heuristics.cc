// Batch-mode mapping heuristics; see etc_heuristics.h.
#include "sched/etc_heuristics.h"

#include <limits>
#include <numeric>

namespace muster::sched {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Maps tasks in index order; choose(t, ready) returns the machine for task t.
template <typename Choose>
EtcSchedule Immediate(const EtcMatrix& etc, const char* name, Choose choose) {
  std::vector<double> ready(etc.machines(), 0.0);
  std::vector<int> machine_of(etc.tasks(), 0);
  std::vector<int> order(etc.tasks());
  for (int t = 0; t < etc.tasks(); ++t) {
    const int m = choose(t, ready);
    machine_of[t] = m;
    order[t] = t;
    ready[m] += etc.At(t, m);
  }
  return BuildEtcSchedule(etc, machine_of, order, name);
}

// Best (smallest ct) machine of task t given ready times; lowest index on ties.
int BestMachine(const EtcMatrix& etc, int t, const std::vector<double>& ready, double* best_ct) {
  const double* row = etc.Row(t);
  int best = 0;
  double b = ready[0] + row[0];
  for (int m = 1; m < etc.machines(); ++m) {
    const double ct = ready[m] + row[m];
    if (ct < b) b = ct, best = m;
  }
  *best_ct = b;
  return best;
}

// Min-min (pick_max = false) or Max-min (true).
EtcSchedule MinMax(const EtcMatrix& etc, bool pick_max, const char* name) {
  const int n = etc.tasks();
  std::vector<double> ready(etc.machines(), 0.0);
  std::vector<int> machine_of(n, 0), order;
  order.reserve(n);
  std::vector<char> mapped(n, 0);
  std::vector<int> best_m(n);
  std::vector<double> best_ct(n);
  for (int t = 0; t < n; ++t) best_m[t] = BestMachine(etc, t, ready, &best_ct[t]);
  for (int step = 0; step < n; ++step) {
    int pick = -1;
    for (int t = 0; t < n; ++t) {
      if (mapped[t]) continue;
      if (pick < 0 || (pick_max ? best_ct[t] > best_ct[pick] : best_ct[t] < best_ct[pick]))
        pick = t;
    }
    const int m = best_m[pick];
    mapped[pick] = 1;
    machine_of[pick] = m;
    order.push_back(pick);
    ready[m] += etc.At(pick, m);
    // Only m got later: tasks whose best machine was m must look again; others keep theirs.
    for (int t = 0; t < n; ++t) {
      if (!mapped[t] && best_m[t] == m) best_m[t] = BestMachine(etc, t, ready, &best_ct[t]);
    }
  }
  return BuildEtcSchedule(etc, machine_of, order, name);
}

}  // namespace

EtcSchedule OpportunisticLoadBalancing(const EtcMatrix& etc) {
  return Immediate(etc, "olb", [&](int, const std::vector<double>& ready) {
    int best = 0;
    for (int m = 1; m < etc.machines(); ++m) {
      if (ready[m] < ready[best]) best = m;
    }
    return best;
  });
}

EtcSchedule MinimumExecutionTime(const EtcMatrix& etc) {
  return Immediate(etc, "met", [&](int t, const std::vector<double>&) {
    const double* row = etc.Row(t);
    int best = 0;
    for (int m = 1; m < etc.machines(); ++m) {
      if (row[m] < row[best]) best = m;
    }
    return best;
  });
}

EtcSchedule MinimumCompletionTime(const EtcMatrix& etc) {
  return Immediate(etc, "mct", [&](int t, const std::vector<double>& ready) {
    double ct;
    return BestMachine(etc, t, ready, &ct);
  });
}

EtcSchedule MinMin(const EtcMatrix& etc) {
  return MinMax(etc, false, "minmin");
}

EtcSchedule MaxMin(const EtcMatrix& etc) {
  return MinMax(etc, true, "maxmin");
}

EtcSchedule Sufferage(const EtcMatrix& etc) {
  const int n = etc.tasks(), machines = etc.machines();
  std::vector<double> ready(machines, 0.0);
  std::vector<int> machine_of(n, 0), order;
  order.reserve(n);
  std::vector<char> mapped(n, 0);
  std::vector<int> holder(machines);
  std::vector<double> holder_sufferage(machines);
  int left = n;
  while (left > 0) {
    std::fill(holder.begin(), holder.end(), -1);
    for (int t = 0; t < n; ++t) {
      if (mapped[t]) continue;
      const double* row = etc.Row(t);
      int best = -1;
      double b1 = kInf, b2 = kInf;
      for (int m = 0; m < machines; ++m) {
        const double ct = ready[m] + row[m];
        if (ct < b1) {
          b2 = b1, b1 = ct, best = m;
        } else if (ct < b2) {
          b2 = ct;
        }
      }
      const double sufferage = machines > 1 ? b2 - b1 : 0;
      if (holder[best] < 0 || sufferage > holder_sufferage[best]) {
        holder[best] = t;
        holder_sufferage[best] = sufferage;
      }
    }
    for (int m = 0; m < machines; ++m) {
      const int t = holder[m];
      if (t < 0) continue;
      mapped[t] = 1;
      machine_of[t] = m;
      order.push_back(t);
      ready[m] += etc.At(t, m);
      --left;
    }
  }
  return BuildEtcSchedule(etc, machine_of, order, "sufferage");
}

std::vector<std::string> EtcHeuristicNames() {
  return {"olb", "met", "mct", "minmin", "maxmin", "sufferage", "tabu", "memetic"};
}

Result<EtcSchedule> RunEtcHeuristic(const std::string& name, const EtcMatrix& etc,
                                    const TabuOptions& tabu_options,
                                    const MemeticOptions& memetic_options) {
  if (etc.tasks() == 0 || etc.machines() == 0) {
    return Status::InvalidArgument("the ETC matrix has no tasks or no machines");
  }
  if (name == "olb") return OpportunisticLoadBalancing(etc);
  if (name == "met") return MinimumExecutionTime(etc);
  if (name == "mct") return MinimumCompletionTime(etc);
  if (name == "minmin") return MinMin(etc);
  if (name == "maxmin") return MaxMin(etc);
  if (name == "sufferage") return Sufferage(etc);
  if (name == "tabu") return TabuSearch(etc, MinMin(etc), tabu_options);
  if (name == "memetic") return MemeticSearch(etc, MinMin(etc), memetic_options);
  std::string known;
  for (const auto& n : EtcHeuristicNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("unknown heuristic '" + name + "' (known: " + known + ")");
}

}  // namespace muster::sched
