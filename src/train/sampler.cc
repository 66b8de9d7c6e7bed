// Seeded permutation and per-rank shards (see sampler.h).
#include "train/sampler.h"

#include <utility>

namespace muster::train {
namespace {

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, bound) by rejection (no modulo bias).
uint64_t Below(uint64_t& state, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t v;
  do {
    v = SplitMix(state);
  } while (v >= limit);
  return v % bound;
}

}  // namespace

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t s = a * 0x9e3779b97f4a7c15ULL + b;
  return SplitMix(s);
}

std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = MixSeed(seed, static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(Below(state, static_cast<uint64_t>(i + 1)));
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t StepsPerEpoch(int64_t n, int world, int64_t batch) {
  return n / (world * batch);
}

std::vector<int64_t> ShardForStep(const std::vector<int64_t>& order, int64_t step, int rank,
                                  int world, int64_t batch) {
  const int64_t begin = step * world * batch + rank * batch;
  return {order.begin() + begin, order.begin() + begin + batch};
}

}  // namespace muster::train
