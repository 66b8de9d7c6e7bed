// Tabu search over ETC mappings; see etc_tabu.h for the neighbourhood and rules.
#include "sched/etc_tabu.h"

#include <algorithm>
#include <limits>
#include <random>

namespace muster::sched {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The current mapping with per-machine task lists (O(1) insert/remove).
class Mapping {
 public:
  Mapping(const EtcMatrix& etc, const std::vector<int>& machine_of)
      : etc_(&etc),
        machine_of_(machine_of),
        slot_(etc.tasks()),
        tasks_(etc.machines()),
        loads_(etc.machines(), 0.0) {
    for (int t = 0; t < etc.tasks(); ++t) Insert(t, machine_of_[t]);
  }

  void Move(int t, int to) {
    Remove(t);
    Insert(t, to);
  }
  int MachineOf(int t) const { return machine_of_[t]; }
  const std::vector<int>& machine_of() const { return machine_of_; }
  const std::vector<int>& TasksOn(int m) const { return tasks_[m]; }
  double Load(int m) const { return loads_[m]; }
  // Recomputes loads from scratch to shed accumulated rounding.
  void Refresh() {
    std::fill(loads_.begin(), loads_.end(), 0.0);
    for (int t = 0; t < etc_->tasks(); ++t) loads_[machine_of_[t]] += etc_->At(t, machine_of_[t]);
  }
  double Makespan() const { return *std::max_element(loads_.begin(), loads_.end()); }
  int Critical() const {
    return static_cast<int>(std::max_element(loads_.begin(), loads_.end()) - loads_.begin());
  }

 private:
  void Insert(int t, int m) {
    machine_of_[t] = m;
    slot_[t] = static_cast<int>(tasks_[m].size());
    tasks_[m].push_back(t);
    loads_[m] += etc_->At(t, m);
  }
  void Remove(int t) {
    const int m = machine_of_[t];
    auto& list = tasks_[m];
    const int last = list.back();
    list[slot_[t]] = last;
    slot_[last] = slot_[t];
    list.pop_back();
    loads_[m] -= etc_->At(t, m);
  }

  const EtcMatrix* etc_;
  std::vector<int> machine_of_;
  std::vector<int> slot_;
  std::vector<std::vector<int>> tasks_;
  std::vector<double> loads_;
};

struct Candidate {
  double makespan = kInf, pair_max = kInf, pair_delta = kInf;
  int t = -1, u = -1, m = -1;  // u < 0: a move

  bool BetterThan(const Candidate& o) const {
    if (makespan != o.makespan) return makespan < o.makespan;
    if (pair_max != o.pair_max) return pair_max < o.pair_max;
    return pair_delta < o.pair_delta;
  }
};

EtcSchedule ToSchedule(const EtcMatrix& etc, const std::vector<int>& machine_of) {
  std::vector<int> order(etc.tasks());
  for (int t = 0; t < etc.tasks(); ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return machine_of[a] < machine_of[b]; });
  return BuildEtcSchedule(etc, machine_of, order, "tabu");
}

}  // namespace

EtcSchedule TabuSearch(const EtcMatrix& etc, const EtcSchedule& start, const TabuOptions& options,
                       TabuStats* stats) {
  const int machines = etc.machines();
  TabuStats local;
  TabuStats& st = stats ? *stats : local;
  st = TabuStats{};
  Mapping cur(etc, start.machine_of);
  st.start_makespan = cur.Makespan();
  if (machines < 2 || etc.tasks() == 0) return ToSchedule(etc, start.machine_of);

  std::vector<int> best = cur.machine_of();
  double best_makespan = cur.Makespan();
  std::vector<long long> tabu_until(static_cast<size_t>(etc.tasks()) * machines, -1);
  auto is_tabu = [&](int t, int m, long long it) {
    return tabu_until[static_cast<size_t>(t) * machines + m] > it;
  };
  std::mt19937_64 rng(options.seed);
  const int tenure = std::max(1, options.tenure);
  int since_best = 0;
  // Machine-major copy: the inner loops read two columns, which then stay in L1.
  std::vector<double> by_machine(static_cast<size_t>(etc.tasks()) * machines);
  for (int t = 0; t < etc.tasks(); ++t) {
    for (int m = 0; m < machines; ++m)
      by_machine[static_cast<size_t>(m) * etc.tasks() + t] = etc.At(t, m);
  }

  for (long long it = 0; it < options.max_iterations; ++it) {
    ++st.iterations;
    const int c = cur.Critical();
    const double lc = cur.Load(c);
    // The two largest loads other than c give the makespan outside a (c, m) pair.
    int top1 = -1, top2 = -1;
    for (int m = 0; m < machines; ++m) {
      if (m == c) continue;
      if (top1 < 0 || cur.Load(m) > cur.Load(top1)) {
        top2 = top1, top1 = m;
      } else if (top2 < 0 || cur.Load(m) > cur.Load(top2)) {
        top2 = m;
      }
    }
    Candidate chosen;
    // Cheap rejection first: most candidates lose on makespan or pair max before the tabu check.
    auto consider = [&](int t, int u, int m, double new_c, double new_m, double others) {
      const double pair_max = new_c > new_m ? new_c : new_m;
      const double mk = pair_max > others ? pair_max : others;
      if (mk > chosen.makespan || (mk == chosen.makespan && pair_max > chosen.pair_max)) return;
      const bool tabu = is_tabu(t, m, it) || (u >= 0 && is_tabu(u, c, it));
      if (tabu && mk >= best_makespan) return;  // aspiration only for a new best
      Candidate k{.makespan = mk,
                  .pair_max = pair_max,
                  .pair_delta = new_c + new_m - lc - cur.Load(m),
                  .t = t,
                  .u = u,
                  .m = m};
      if (k.BetterThan(chosen)) chosen = k;
    };
    for (int m = 0; m < machines; ++m) {
      if (m == c) continue;
      const double lm = cur.Load(m);
      const double others = m == top1 ? (top2 < 0 ? 0 : cur.Load(top2)) : cur.Load(top1);
      const std::vector<int>& on_m = cur.TasksOn(m);
      const double* col_c = &by_machine[static_cast<size_t>(c) * etc.tasks()];
      const double* col_m = &by_machine[static_cast<size_t>(m) * etc.tasks()];
      for (int t : cur.TasksOn(c)) {
        const double base_c = lc - col_c[t];
        const double base_m = lm + col_m[t];
        consider(t, -1, m, base_c, base_m, others);
        for (int u : on_m) consider(t, u, m, base_c + col_c[u], base_m - col_m[u], others);
      }
    }
    if (chosen.t < 0) continue;  // everything tabu: let tenures run out
    const auto jitter = [&] { return static_cast<long long>(rng() % tenure); };
    cur.Move(chosen.t, chosen.m);
    tabu_until[static_cast<size_t>(chosen.t) * machines + c] = it + tenure + jitter();
    if (chosen.u >= 0) {
      cur.Move(chosen.u, c);
      tabu_until[static_cast<size_t>(chosen.u) * machines + chosen.m] = it + tenure + jitter();
    }
    if ((it & 1023) == 0) cur.Refresh();
    const double mk = cur.Makespan();
    if (mk < best_makespan) {
      best_makespan = mk;
      best = cur.machine_of();
      ++st.improvements;
      since_best = 0;
    } else if (++since_best >= options.stall_limit) {
      cur = Mapping(etc, best);
      for (int k = 0; k < options.kick_moves; ++k) {
        const int t = static_cast<int>(rng() % etc.tasks());
        cur.Move(t, static_cast<int>(rng() % machines));
      }
      std::fill(tabu_until.begin(), tabu_until.end(), -1);
      ++st.restarts;
      since_best = 0;
    }
  }
  return ToSchedule(etc, best);
}

}  // namespace muster::sched
