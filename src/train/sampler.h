// Data order for data-parallel training: the same permutation on every rank, a disjoint shard each.
//
// Epoch e's order is a Fisher-Yates shuffle of 0..n-1 driven by a SplitMix64 stream seeded from
// (seed, e), so every rank computes it alone and identically (no communication, no platform-
// dependent std::shuffle). A global step g of the epoch covers positions
// [g*W*B, (g+1)*W*B) of that order (W ranks, B samples per rank); rank r takes the contiguous
// slice [g*W*B + r*B, g*W*B + (r+1)*B). The W slices of a step are disjoint and together equal
// the batch a single process with batch W*B would take at the same step, which is what makes
// data-parallel training reproduce single-process training. The incomplete tail (n mod W*B
// samples) is dropped, so every rank runs the same number of steps.
#pragma once

#include <cstdint>
#include <vector>

namespace muster::train {

// Mixes (a, b) into a well-spread 64-bit seed (SplitMix64 finaliser over a combination).
uint64_t MixSeed(uint64_t a, uint64_t b);

// The permutation of 0..n-1 for `epoch`; identical for equal (n, seed, epoch).
std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, int64_t epoch);

// Steps per epoch with drop-last: n / (world * batch). REQUIRES: world, batch > 0.
int64_t StepsPerEpoch(int64_t n, int world, int64_t batch);

// Rank `rank`'s sample indices for step `step` (0-based within the epoch) of `order`.
// REQUIRES: 0 <= step < StepsPerEpoch(order.size(), world, batch), 0 <= rank < world.
std::vector<int64_t> ShardForStep(const std::vector<int64_t>& order, int64_t step, int rank,
                                  int world, int64_t batch);

}  // namespace muster::train
