// Execution-time models.
//
// 1. The seed formula, implemented exactly as written:
//        T_exec = C/N + sum_i L * C_i / N,   C = sum_i C_i
//    C_i is the work of part i (in the seed's unit, read as milliseconds of work on one worker),
//    N the number of workers (GPUs x cores), L the per-item latency in ms. The formula multiplies
//    a latency by a work amount, so its second term is dimensionally odd; it is kept verbatim for
//    reference (see docs/models.md for the seed's own, inconsistent, arithmetic).
// 2. A dimensionally sound alpha-beta model:
//        T = W / (N * v) + sum_j (alpha + D_j / beta)
//    W total work (work units), v compute rate of one worker (work units per second), alpha the
//    latency of one transfer (s), beta the bandwidth (bytes per second), D_j the bytes of transfer
//    j. Its parameters are meant to be calibrated from measured runs (model/calibration.h).
// Pure functions; no I/O.
#pragma once

#include <span>
#include <vector>

#include "core/status.h"

namespace muster::model {

struct SeedExecInput {
  std::vector<double> work;  // C_i, >= 0
  double workers = 1;        // N, > 0
  double latency_ms = 0;     // L, >= 0
};

struct SeedExecBreakdown {
  double total_work = 0;           // C
  double compute_ms = 0;           // C / N
  std::vector<double> item_terms;  // L * C_i / N, one per part
  double latency_term_ms = 0;      // sum of item_terms
  double total_ms = 0;             // compute_ms + latency_term_ms
};

// Evaluates the seed formula as written. Errors on N <= 0, negative or non-finite inputs.
Result<SeedExecBreakdown> SeedExecTime(const SeedExecInput& in);

struct SoundExecInput {
  double work = 0;                     // W, work units
  double workers = 1;                  // N
  double rate_per_worker = 1;          // v, work units per second
  double alpha_s = 0;                  // latency per transfer, seconds
  double bandwidth_bytes_per_s = 0;    // beta; may be 0 only when there are no transfers
  std::vector<double> transfer_bytes;  // D_j
};

struct SoundExecBreakdown {
  double compute_s = 0;                  // W / (N v)
  std::vector<double> transfer_terms_s;  // alpha + D_j / beta
  double communication_s = 0;            // sum of transfer_terms_s
  double total_s = 0;
};

// Evaluates T = W/(N v) + sum_j (alpha + D_j / beta). Errors on non-positive N, v, or beta
// (when there are transfers) and on negative or non-finite inputs.
Result<SoundExecBreakdown> SoundExecTime(const SoundExecInput& in);

// The seed's worked example: C_i = 1000, 2000, 1500, 1200, 1800; N = 4 GPUs x 8 cores; L = 1 ms.
SeedExecInput SeedWorkedExample();

// The numbers the seed text printed for its worked example, quoted verbatim for comparison
// (they are not what the formula gives; see docs/models.md).
struct SeedPrintedExample {
  std::vector<double> item_terms_ms{25, 50, 37.5, 30, 45};
  double latency_term_ms = 81.25;
  double total_ms = 238.75;
};

}  // namespace muster::model
