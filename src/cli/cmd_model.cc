// `muster model exec|balance`: evaluates the execution-time and load-balance models from the
// command line, including the seed's formulas as written beside the numbers the seed printed
// (see docs/models.md). Output is a table, or JSON with -o json.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/balance.h"
#include "model/exec_time.h"

namespace muster::cli {
namespace {

using nlohmann::json;

std::string Num(double v) {
  if (std::isnan(v)) return "undefined";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

json JsonNum(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

int Fail(const std::string& message) {
  std::fflush(stdout);
  std::cerr << "muster: " << message << std::endl;
  return kExitUsage;
}

struct ExecFlags {
  std::vector<double> work;
  double workers = 0;
  double latency_ms = 0;
  bool seed_example = false;
  double rate = 0;  // > 0 enables the sound model
  double alpha_ms = 0;
  double bandwidth = 0;
  std::vector<double> bytes;
  std::string output = "table";
};

int RunExec(const ExecFlags& f) {
  model::SeedExecInput in{.work = f.work, .workers = f.workers, .latency_ms = f.latency_ms};
  if (f.seed_example) {
    if (!f.work.empty() || f.workers > 0)
      return Fail("give --work/--n or --seed-example, not both");
    in = model::SeedWorkedExample();
  } else if (f.work.empty() || f.workers <= 0) {
    return Fail("give --work C1,C2,... and --n N (and --latency-ms L), or --seed-example");
  }
  auto seed = model::SeedExecTime(in);
  if (!seed.ok()) return Fail(seed.status().message());
  std::optional<model::SoundExecBreakdown> sound;
  if (f.rate > 0) {
    auto s = model::SoundExecTime({.work = seed->total_work,
                                   .workers = in.workers,
                                   .rate_per_worker = f.rate,
                                   .alpha_s = f.alpha_ms / 1000,
                                   .bandwidth_bytes_per_s = f.bandwidth,
                                   .transfer_bytes = f.bytes});
    if (!s.ok()) return Fail(s.status().message());
    sound = *s;
  } else if (f.alpha_ms > 0 || f.bandwidth > 0 || !f.bytes.empty()) {
    return Fail("the sound model needs --rate (work units per second per worker)");
  }
  const model::SeedPrintedExample printed;
  if (f.output == "json") {
    json j;
    j["seed"] = {{"formula", "T_exec = C/N + sum_i L*C_i/N"},
                 {"work", in.work},
                 {"n", in.workers},
                 {"latency_ms", in.latency_ms},
                 {"total_work", seed->total_work},
                 {"compute_ms", seed->compute_ms},
                 {"item_terms_ms", seed->item_terms},
                 {"latency_term_ms", seed->latency_term_ms},
                 {"total_ms", seed->total_ms}};
    if (f.seed_example) {
      j["seed_printed"] = {{"item_terms_ms", printed.item_terms_ms},
                           {"latency_term_ms", printed.latency_term_ms},
                           {"total_ms", printed.total_ms}};
    }
    if (sound) {
      j["sound"] = {{"formula", "T = W/(N*v) + sum_j (alpha + D_j/beta)"},
                    {"rate_per_worker", f.rate},
                    {"alpha_ms", f.alpha_ms},
                    {"bandwidth_bytes_per_s", f.bandwidth},
                    {"transfer_bytes", f.bytes},
                    {"compute_ms", sound->compute_s * 1000},
                    {"communication_ms", sound->communication_s * 1000},
                    {"total_ms", sound->total_s * 1000}};
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::printf("seed model, as written: T_exec = C/N + sum_i L*C_i/N\n");
  std::printf("  C = %s, N = %s, L = %s ms\n", Num(seed->total_work).c_str(),
              Num(in.workers).c_str(), Num(in.latency_ms).c_str());
  std::printf("  %-6s %-10s %-14s%s\n", "part", "C_i", "L*C_i/N (ms)",
              f.seed_example ? "seed printed" : "");
  for (size_t i = 0; i < in.work.size(); ++i) {
    std::printf("  %-6zu %-10s %-14s%s\n", i + 1, Num(in.work[i]).c_str(),
                Num(seed->item_terms[i]).c_str(),
                f.seed_example ? Num(printed.item_terms_ms[i]).c_str() : "");
  }
  std::printf("  %-31s %s ms\n", "C/N", Num(seed->compute_ms).c_str());
  std::printf(
      "  %-31s %s ms%s\n", "sum_i L*C_i/N", Num(seed->latency_term_ms).c_str(),
      f.seed_example ? ("   (seed printed " + Num(printed.latency_term_ms) + ")").c_str() : "");
  std::printf("  %-31s %s ms%s\n", "T_exec", Num(seed->total_ms).c_str(),
              f.seed_example ? ("   (seed printed " + Num(printed.total_ms) + ")").c_str() : "");
  if (f.seed_example) {
    double printed_sum = printed.latency_term_ms;
    for (double t : printed.item_terms_ms) printed_sum += t;
    std::printf(
        "  note: the seed's per-part terms are C_i/40, not L*C_i/N = C_i/32; its own terms\n"
        "        (and 81.25) add up to %s, not the %s it printed; the formula as written\n"
        "        gives %s ms. The second term multiplies latency by work (dimensionally odd).\n",
        Num(printed_sum).c_str(), Num(printed.total_ms).c_str(), Num(seed->total_ms).c_str());
  }
  if (sound) {
    std::printf("sound model: T = W/(N*v) + sum_j (alpha + D_j/beta)\n");
    std::printf("  W = %s, N = %s, v = %s /s, alpha = %s ms, beta = %s B/s, %zu transfer(s)\n",
                Num(seed->total_work).c_str(), Num(in.workers).c_str(), Num(f.rate).c_str(),
                Num(f.alpha_ms).c_str(), Num(f.bandwidth).c_str(), f.bytes.size());
    std::printf("  %-31s %s ms\n", "W/(N*v)", Num(sound->compute_s * 1000).c_str());
    std::printf("  %-31s %s ms\n", "sum_j (alpha + D_j/beta)",
                Num(sound->communication_s * 1000).c_str());
    std::printf("  %-31s %s ms\n", "T", Num(sound->total_s * 1000).c_str());
  }
  return kExitOk;
}

struct BalanceFlags {
  std::vector<double> loads;
  bool seed_example = false;
  std::string output = "table";
};

int RunBalance(const BalanceFlags& f) {
  std::vector<double> loads = f.loads;
  const std::vector<double> seed_loads(std::begin(model::kSeedExampleLoads),
                                       std::end(model::kSeedExampleLoads));
  if (f.seed_example) {
    if (!loads.empty()) return Fail("give loads or --seed-example, not both");
    loads = seed_loads;
  }
  if (loads.empty()) return Fail("give the loads, e.g. `muster model balance 0.2 0.5 0.3 0.2`");
  if (Status st = model::ValidateLoads(loads); !st.ok()) return Fail(st.message());
  const bool is_seed = loads == seed_loads;
  const model::BalanceReport r = model::Evaluate(loads);
  if (f.output == "json") {
    json j{{"loads", loads}, {"n", r.n},     {"sum", r.sum},      {"mean", r.mean},
           {"min", r.min},   {"max", r.max}, {"stddev", r.stddev}};
    for (const auto& [name, value] : model::MetricRows(r)) j[name] = JsonNum(value);
    if (is_seed) {
      j["seed_text_computed_bal"] = model::kSeedTextComputedBal;
      j["seed_text_printed_bal"] = model::kSeedTextPrintedBal;
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::printf("loads: N = %d, sum %s, mean %s, min %s, max %s\n", r.n, Num(r.sum).c_str(),
              Num(r.mean).c_str(), Num(r.min).c_str(), Num(r.max).c_str());
  std::printf("  %-34s %-10s %s\n", "metric", "value", "meaning");
  std::printf("  %-34s %-10s %s\n", "Jain's index J", Num(r.jain).c_str(),
              "1 = balanced, 1/N = one node carries all");
  std::printf("  %-34s %-10s %s\n", "coefficient of variation", Num(r.cov).c_str(),
              "stddev/mean, 0 = balanced");
  std::printf("  %-34s %-10s %s\n", "imbalance factor max/mean - 1",
              Num(r.imbalance_factor).c_str(), "0 = balanced, N-1 = one node carries all");
  std::printf("  %-34s %-10s %s\n", "relative imbalance 1 - mean/max",
              Num(r.relative_imbalance).c_str(), "0 = balanced");
  std::printf("  %-34s %-10s %s\n", "seed Bal = sum L^2/(N (sum L)^2)", Num(r.seed_bal).c_str(),
              "as written: 1/N^2 when balanced, 1/N when one node carries all");
  if (is_seed) {
    std::printf(
        "  the seed's text for these loads: computed sum L^2/N = %s and printed Bal = %s;\n"
        "  the formula as written gives %s. J = 1/(N^2 Bal) = %s.\n",
        Num(model::kSeedTextComputedBal).c_str(), Num(model::kSeedTextPrintedBal).c_str(),
        Num(r.seed_bal).c_str(), Num(r.jain).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddModelCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* model = app.add_subcommand("model", "Evaluate the execution-time and balance models");
  model->require_subcommand(1);

  auto exec_flags = std::make_shared<ExecFlags>();
  CLI::App* exec = model->add_subcommand(
      "exec", "Execution time: the seed formula as written, and the alpha-beta model");
  exec->add_option("--work", exec_flags->work, "work of each part C_1,C_2,... (comma-separated)")
      ->delimiter(',');
  exec->add_option("--n", exec_flags->workers, "number of workers N (e.g. GPUs x cores)");
  exec->add_option("--latency-ms", exec_flags->latency_ms, "latency L in ms (seed formula)");
  exec->add_flag(
      "--seed-example", exec_flags->seed_example,
      "use the seed's worked example (C_i = 1000,2000,1500,1200,1800; N = 32; L = 1 ms)");
  exec->add_option("--rate", exec_flags->rate,
                   "sound model: work units per second of one worker (enables the sound model)");
  exec->add_option("--alpha-ms", exec_flags->alpha_ms, "sound model: latency per transfer, ms");
  exec->add_option("--bandwidth", exec_flags->bandwidth,
                   "sound model: bandwidth, bytes per second");
  exec->add_option("--bytes", exec_flags->bytes, "sound model: bytes of each transfer D_1,D_2,...")
      ->delimiter(',');
  exec->add_option("-o,--output", exec_flags->output, "output format: table or json")
      ->check(CLI::IsMember({"table", "json"}));
  exec->callback([exec_flags, &ctx] { ctx.exit_code = RunExec(*exec_flags); });

  auto bal_flags = std::make_shared<BalanceFlags>();
  CLI::App* balance = model->add_subcommand(
      "balance", "Load-balance metrics (Jain, CoV, imbalance factor, seed Bal) of some loads");
  balance->add_option("loads", bal_flags->loads, "load of each node, e.g. 0.2 0.5 0.3 0.2");
  balance->add_flag("--seed-example", bal_flags->seed_example,
                    "use the seed's example loads 0.2 0.5 0.3 0.2");
  balance->add_option("-o,--output", bal_flags->output, "output format: table or json")
      ->check(CLI::IsMember({"table", "json"}));
  balance->callback([bal_flags, &ctx] { ctx.exit_code = RunBalance(*bal_flags); });
}

}  // namespace muster::cli
