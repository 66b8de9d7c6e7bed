// Price-guided memetic search over ETC mappings; see etc_memetic.h for the steps.
#include "sched/etc_memetic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace muster::sched {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// A local-search step must lower the critical load by more than this fraction of it, so
// rounding dust can never make two steps undo each other.
constexpr double kMinGain = 1e-12;
constexpr double kPriceNoise = 0.001;
constexpr double kMinSlack = 0.005, kMaxSlack = 0.04;
constexpr int kFreshOneIn = 5;  // one child in five is a fresh construction
// Prices below this fraction of the largest are raised to it, so none underflows to 0.
constexpr double kMinRelativePrice = 1e-12;

double Uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// The matrix stored machine-major: the local search reads two columns at a time.
class Columns {
 public:
  explicit Columns(const EtcMatrix& etc)
      : tasks_(etc.tasks()), values_(static_cast<size_t>(etc.tasks()) * etc.machines()) {
    for (int t = 0; t < etc.tasks(); ++t) {
      for (int m = 0; m < etc.machines(); ++m) values_[Index(t, m)] = etc.At(t, m);
    }
  }
  const double* Column(int m) const { return values_.data() + static_cast<size_t>(m) * tasks_; }
  double At(int t, int m) const { return values_[Index(t, m)]; }

 private:
  size_t Index(int t, int m) const { return static_cast<size_t>(m) * tasks_ + t; }
  int tasks_;
  std::vector<double> values_;
};

// The order of a machine's task list: longest there first, then lowest index.
struct LongerOn {
  const double* col;
  bool operator()(int a, int b) const { return col[a] > col[b] || (col[a] == col[b] && a < b); }
};

// The mapping under local search: loads, and each machine's tasks sorted by LongerOn.
class SortedMapping {
 public:
  SortedMapping(const Columns& cols, int tasks, int machines)
      : cols_(&cols), machine_of_(tasks), tasks_on_(machines), loads_(machines) {}

  void Assign(const std::vector<int>& machine_of) {
    machine_of_ = machine_of;
    for (auto& list : tasks_on_) list.clear();
    for (int t = 0; t < static_cast<int>(machine_of_.size()); ++t) {
      tasks_on_[machine_of_[t]].push_back(t);
    }
    for (int m = 0; m < machines(); ++m) {
      std::sort(tasks_on_[m].begin(), tasks_on_[m].end(), Longer(m));
    }
    RecomputeLoads();
  }
  void Move(int t, int to) {
    const int from = machine_of_[t];
    auto& src = tasks_on_[from];
    src.erase(std::lower_bound(src.begin(), src.end(), t, Longer(from)));
    loads_[from] -= cols_->At(t, from);
    auto& dst = tasks_on_[to];
    dst.insert(std::lower_bound(dst.begin(), dst.end(), t, Longer(to)), t);
    loads_[to] += cols_->At(t, to);
    machine_of_[t] = to;
  }
  // Exact loads (summed in task order, as the schedule table sums them).
  void RecomputeLoads() {
    std::fill(loads_.begin(), loads_.end(), 0.0);
    for (int t = 0; t < static_cast<int>(machine_of_.size()); ++t) {
      loads_[machine_of_[t]] += cols_->At(t, machine_of_[t]);
    }
  }

  int machines() const { return static_cast<int>(loads_.size()); }
  double Load(int m) const { return loads_[m]; }
  const std::vector<int>& TasksOn(int m) const { return tasks_on_[m]; }
  const std::vector<int>& machine_of() const { return machine_of_; }
  int Critical() const {
    return static_cast<int>(std::max_element(loads_.begin(), loads_.end()) - loads_.begin());
  }
  double Makespan() const { return loads_[Critical()]; }
  // Room for the local search's machine order, kept to avoid an allocation per step.
  std::vector<int>& Scratch() { return scratch_; }

 private:
  LongerOn Longer(int m) const { return LongerOn{cols_->Column(m)}; }

  const Columns* cols_;
  std::vector<int> machine_of_;
  std::vector<std::vector<int>> tasks_on_;
  std::vector<double> loads_;
  std::vector<int> scratch_;
};

// Step 3: one improving move or swap off the critical machine; false at a local optimum.
bool ImproveCritical(const Columns& cols, SortedMapping& map) {
  const int machines = map.machines();
  const int c = map.Critical();
  const double lc = map.Load(c);
  const double* on_c = cols.Column(c);
  double bar = lc - lc * kMinGain;  // the best new pair max so far must stay below this
  int best_t = -1, best_u = -1, best_m = -1;
  // Least loaded first: the bar drops early and the scans below stop sooner.
  std::vector<int>& by_load = map.Scratch();
  by_load.resize(machines);
  std::iota(by_load.begin(), by_load.end(), 0);
  std::sort(by_load.begin(), by_load.end(), [&](int a, int b) {
    return map.Load(a) < map.Load(b) || (map.Load(a) == map.Load(b) && a < b);
  });
  for (int m : by_load) {
    if (m == c) continue;
    const double lm = map.Load(m);
    const double* on_m = cols.Column(m);
    for (int t : map.TasksOn(c)) {
      // Tasks on c come longest first: once c itself stays at or above the bar, so do the rest.
      if (lc - on_c[t] >= bar) break;
      const double pair = std::max(lc - on_c[t], lm + on_m[t]);
      if (pair < bar) bar = pair, best_t = t, best_m = m;
    }
  }
  if (best_t >= 0) {
    map.Move(best_t, best_m);
    return true;
  }
  for (int m : by_load) {
    if (m == c || map.TasksOn(m).empty()) continue;
    const double lm = map.Load(m);
    const double* on_m = cols.Column(m);
    for (int t : map.TasksOn(c)) {
      const double base_c = lc - on_c[t], base_m = lm + on_m[t];
      if (base_c >= bar) break;
      // Partners come longest first: once m stays at or above the bar, so do all the rest.
      for (int u : map.TasksOn(m)) {
        const double new_m = base_m - on_m[u];
        if (new_m >= bar) break;
        const double new_c = base_c + on_c[u];
        if (new_c >= bar) continue;
        bar = std::max(new_c, new_m), best_t = t, best_u = u, best_m = m;
      }
    }
  }
  if (best_t < 0) return false;
  map.Move(best_t, best_m);
  map.Move(best_u, c);
  return true;
}

void LocalSearch(const Columns& cols, SortedMapping& map) {
  // Every step lowers the sorted load vector, so this ends; the cap is a guard, never reached
  // in practice.
  const long long max_steps = 100LL * static_cast<long long>(map.machine_of().size()) + 1000;
  for (long long step = 0; step < max_steps && ImproveCritical(cols, map); ++step) {
  }
  map.RecomputeLoads();
}

struct Member {
  std::vector<int> machine_of;
  double makespan = 0;
};

// Step 2: places every task with fixed[t] < 0 around the fixed ones.
std::vector<int> Construct(const EtcMatrix& etc, const std::vector<double>& prices, double cap,
                           const std::vector<int>& fixed) {
  const int n = etc.tasks(), machines = etc.machines();
  std::vector<int> machine_of(n);
  std::vector<double> loads(machines, 0.0), regret(n, 0.0);
  std::vector<int> order;
  order.reserve(n);
  for (int t = 0; t < n; ++t) {
    if (fixed[t] >= 0) {
      machine_of[t] = fixed[t];
      loads[fixed[t]] += etc.At(t, fixed[t]);
      continue;
    }
    const double* row = etc.Row(t);
    double first = kInf, second = kInf;
    for (int m = 0; m < machines; ++m) {
      const double cost = prices[m] * row[m];
      if (cost < first) {
        second = first, first = cost;
      } else if (cost < second) {
        second = cost;
      }
    }
    regret[t] = machines > 1 ? second - first : 0;
    order.push_back(t);
  }
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return regret[a] > regret[b] || (regret[a] == regret[b] && a < b);
  });
  for (int t : order) {
    const double* row = etc.Row(t);
    int pick = -1;
    double cheapest = kInf;
    for (int m = 0; m < machines; ++m) {
      if (loads[m] + row[m] > cap) continue;
      const double cost = prices[m] * row[m];
      if (cost < cheapest) cheapest = cost, pick = m;
    }
    if (pick < 0) {
      double earliest = kInf;
      for (int m = 0; m < machines; ++m) {
        if (loads[m] + row[m] < earliest) earliest = loads[m] + row[m], pick = m;
      }
    }
    machine_of[t] = pick;
    loads[pick] += row[pick];
  }
  return machine_of;
}

EtcSchedule ToSchedule(const EtcMatrix& etc, const std::vector<int>& machine_of) {
  std::vector<int> order(etc.tasks());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return machine_of[a] < machine_of[b]; });
  return BuildEtcSchedule(etc, machine_of, order, "memetic");
}

// The search state of one call: the RNG, the population and the deadline.
class Memetic {
 public:
  Memetic(const EtcMatrix& etc, const MemeticOptions& options, MemeticStats& stats)
      : etc_(etc),
        options_(options),
        stats_(stats),
        cols_(etc),
        map_(cols_, etc.tasks(), etc.machines()),
        rng_(options.seed),
        start_ms_(options.clock ? options.clock->MonotonicMs() : 0) {}

  std::vector<int> Run(const std::vector<int>& start) {
    const EtcPriceBound bound = LagrangianBound(etc_, options_.price_iterations);
    stats_.lower_bound = bound.makespan;
    prices_ = bound.prices;
    const std::vector<int> none(etc_.tasks(), -1);
    Add(Improve(start));
    // Duplicates are dropped, so the population may start (and stay) smaller.
    for (int i = 1; i < std::max(2, options_.population) && !OutOfTime(); ++i) {
      Add(Improve(Construct(etc_, NoisyPrices(), Cap(), none)));
    }
    while (stats_.generations < options_.max_generations && !OutOfTime()) {
      ++stats_.generations;
      const bool fresh = population_.size() < 2 || rng_() % kFreshOneIn == 0;
      Add(Improve(Construct(etc_, NoisyPrices(), Cap(), fresh ? none : Agreement())));
    }
    return population_[Best()].machine_of;
  }

 private:
  bool OutOfTime() const {
    return options_.clock && options_.time_budget_ms > 0 &&
           options_.clock->MonotonicMs() - start_ms_ >= options_.time_budget_ms;
  }
  std::vector<double> NoisyPrices() {
    std::vector<double> p = prices_;
    for (double& v : p) v *= 1 + kPriceNoise * (2 * Uniform01(rng_) - 1);
    return p;
  }
  double Cap() {
    return stats_.lower_bound * (1 + kMinSlack + (kMaxSlack - kMinSlack) * Uniform01(rng_));
  }
  // The machines of two distinct random members where they agree; -1 elsewhere.
  std::vector<int> Agreement() {
    const size_t a = rng_() % population_.size();
    const size_t b = (a + 1 + rng_() % (population_.size() - 1)) % population_.size();
    std::vector<int> fixed(etc_.tasks(), -1);
    for (int t = 0; t < etc_.tasks(); ++t) {
      const int m = population_[a].machine_of[t];
      if (m == population_[b].machine_of[t]) fixed[t] = m;
    }
    return fixed;
  }
  Member Improve(const std::vector<int>& machine_of) {
    map_.Assign(machine_of);
    LocalSearch(cols_, map_);
    return Member{.machine_of = map_.machine_of(), .makespan = map_.Makespan()};
  }
  size_t Best() const {
    size_t best = 0;
    for (size_t i = 1; i < population_.size(); ++i) {
      if (population_[i].makespan < population_[best].makespan) best = i;
    }
    return best;
  }
  void Add(Member child) {
    for (const Member& m : population_) {
      if (m.makespan == child.makespan) return;
    }
    if (!population_.empty() && child.makespan < population_[Best()].makespan) {
      ++stats_.improvements;
    }
    if (static_cast<int>(population_.size()) < std::max(2, options_.population)) {
      population_.push_back(std::move(child));
      return;
    }
    size_t worst = 0;
    for (size_t i = 1; i < population_.size(); ++i) {
      if (population_[i].makespan > population_[worst].makespan) worst = i;
    }
    if (child.makespan < population_[worst].makespan) population_[worst] = std::move(child);
  }

  const EtcMatrix& etc_;
  const MemeticOptions& options_;
  MemeticStats& stats_;
  Columns cols_;
  SortedMapping map_;
  std::mt19937_64 rng_;
  TimeMs start_ms_;
  std::vector<double> prices_;
  std::vector<Member> population_;
};

}  // namespace

EtcPriceBound LagrangianBound(const EtcMatrix& etc, int iterations) {
  const int machines = etc.machines();
  std::vector<double> prices(machines, 1.0 / machines), loads(machines);
  EtcPriceBound best{.makespan = 0, .prices = prices};
  for (int k = 0; k < iterations; ++k) {
    std::fill(loads.begin(), loads.end(), 0.0);
    double value = 0;
    for (int t = 0; t < etc.tasks(); ++t) {
      const double* row = etc.Row(t);
      int pick = 0;
      double cheapest = prices[0] * row[0];
      for (int m = 1; m < machines; ++m) {
        const double cost = prices[m] * row[m];
        if (cost < cheapest) cheapest = cost, pick = m;
      }
      value += cheapest;
      loads[pick] += row[pick];
    }
    if (value > best.makespan) best = {.makespan = value, .prices = prices};
    const double top = *std::max_element(loads.begin(), loads.end());
    if (top <= 0) break;  // every task is free somewhere: the bound is 0 and exact
    // Raise the prices of loaded machines, lower the others; steps shrink as 1/(1 + k/100).
    const double step = 1.0 / (1.0 + 0.01 * k);
    for (int m = 0; m < machines; ++m) prices[m] *= std::exp(step * (loads[m] / top - 1));
    const double floor = *std::max_element(prices.begin(), prices.end()) * kMinRelativePrice;
    double sum = 0;
    for (double& p : prices) sum += p = std::max(p, floor);
    for (double& p : prices) p /= sum;
  }
  return best;
}

EtcSchedule MemeticSearch(const EtcMatrix& etc, const EtcSchedule& start,
                          const MemeticOptions& options, MemeticStats* stats) {
  MemeticStats local;
  MemeticStats& st = stats ? *stats : local;
  st = MemeticStats{.start_makespan = start.makespan};
  EtcSchedule result = start;
  result.heuristic = "memetic";
  if (etc.machines() < 2 || etc.tasks() == 0) return result;
  Memetic search(etc, options, st);
  EtcSchedule best = ToSchedule(etc, search.Run(start.machine_of));
  return best.makespan < start.makespan ? best : result;
}

}  // namespace muster::sched
