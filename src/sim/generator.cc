#include "sim/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace muster::sim {

namespace {

uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*out);
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() + s.size();
}

}  // namespace

SimRng::SimRng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = SplitMix(&x);
}

uint64_t SimRng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

double SimRng::Uniform() {
  return static_cast<double>(Next() >> 11) * 0x1.0p-53;
}

double SimRng::Normal() {
  double u1 = 1.0 - Uniform();  // (0, 1]
  double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

Result<GeneratorOptions> ParseGeneratorSpec(const std::string& spec) {
  GeneratorOptions o;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos)
      return Status::InvalidArgument("generator option '" + item + "' is not key=value");
    std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    int64_t i = 0;
    double d = 0;
    auto bad = [&] {
      return Status::InvalidArgument("generator option " + key + "='" + val + "' is not valid");
    };
    if (key == "jobs") {
      if (!ParseInt(val, &i) || i < 0) return bad();
      o.jobs = i;
    } else if (key == "rate") {
      if (!ParseDouble(val, &d) || d <= 0) return bad();
      o.rate_per_hour = d;
    } else if (key == "seed") {
      if (!ParseInt(val, &i)) return bad();
      o.seed = static_cast<uint64_t>(i);
    } else if (key == "median") {
      if (!ParseDouble(val, &d) || d <= 0) return bad();
      o.median_s = d;
    } else if (key == "sigma") {
      if (!ParseDouble(val, &d) || d < 0) return bad();
      o.sigma = d;
    } else if (key == "max") {
      if (!ParseDouble(val, &d) || d < 1) return bad();
      o.max_s = d;
    } else if (key == "users") {
      if (!ParseInt(val, &i) || i < 1 || i > 100000) return bad();
      o.users = static_cast<int>(i);
    } else if (key == "sizes") {
      o.sizes.clear();
      std::stringstream vs(val);
      std::string part;
      while (std::getline(vs, part, '/')) {
        auto c = part.find(':');
        int64_t g = 0;
        double w = 0;
        if (c == std::string::npos || !ParseInt(part.substr(0, c), &g) || g < 1 ||
            !ParseDouble(part.substr(c + 1), &w) || w < 0)
          return bad();
        o.sizes.push_back({static_cast<int>(g), w});
      }
      double total = 0;
      for (auto& [g, w] : o.sizes) total += w;
      if (o.sizes.empty() || total <= 0) return bad();
    } else {
      return Status::InvalidArgument("unknown generator option '" + key +
                                     "' (jobs, rate, seed, median, sigma, max, users, sizes)");
    }
  }
  if (o.max_s < o.min_s) o.max_s = o.min_s;
  return o;
}

Workload Generate(const GeneratorOptions& o) {
  Workload w;
  for (int u = 0; u < o.users; ++u) w.users.push_back("user" + std::to_string(u));
  SimRng rng(o.seed);
  double total = 0;
  for (auto& [g, wt] : o.sizes) total += wt;
  const double mu = std::log(o.median_s);
  double t_s = 0;
  w.jobs.reserve(static_cast<size_t>(o.jobs));
  for (int64_t k = 0; k < o.jobs; ++k) {
    t_s += -std::log(1.0 - rng.Uniform()) * 3600.0 / o.rate_per_hour;
    double pick = rng.Uniform() * total;
    int gpus = o.sizes.back().first;
    for (auto& [g, wt] : o.sizes) {
      if (pick < wt) {
        gpus = g;
        break;
      }
      pick -= wt;
    }
    double dur_s = std::clamp(std::exp(mu + o.sigma * rng.Normal()), o.min_s, o.max_s);
    SimJob j;
    j.submit_ms = static_cast<TimeMs>(std::llround(t_s * 1000.0));
    j.duration_ms = std::max<DurationMs>(1, static_cast<DurationMs>(std::llround(dur_s)) * 1000);
    j.gpus = gpus;
    j.user = static_cast<int32_t>(rng.Next() % static_cast<uint64_t>(o.users));
    j.priority = static_cast<int32_t>(rng.Next() % 3);
    w.jobs.push_back(j);
  }
  return w;
}

void AssignPriorities(Workload* w, uint64_t seed) {
  SimRng rng(seed ^ 0x5052494fULL);
  for (SimJob& j : w->jobs) j.priority = static_cast<int32_t>(rng.Next() % 3);
}

void AssignCheckpointable(Workload* w, double fraction, uint64_t seed) {
  SimRng rng(seed ^ 0x434b5054ULL);
  const double f = std::clamp(fraction, 0.0, 1.0);
  for (SimJob& j : w->jobs) {
    // 53 random bits -> [0, 1).
    double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
    j.checkpointable = u < f;
  }
}

}  // namespace muster::sim
