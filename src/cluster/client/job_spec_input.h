// Building a JobSpec from what a user types: `muster submit` flags and/or a YAML job file.
//
// Both sources fill a JobSpecInput whose fields are all optional ("not given"); the file is read
// first, the flags are overlaid on it (flags win; env keys merge), and BuildJobSpec applies the
// defaults and validates. Every field has one key name, shared by flags and YAML:
//   name user class command env workdir tasks gang ranks_per_node array after priority
//   cpus mem gpus gpu_mem gpu_model est_time est_work checkpointable retries log_limit
//   time signal_grace requeue_on_timeout after_any after_notok singleton output error on_preempt
// ("afterok" is another name of "after", as in sbatch's --dependency=afterok:ID)
// (YAML also accepts dashes, e.g. ranks-per-node). Values are parsed by SetSpecField, so a bad
// value reads the same from a flag and from a file, and the error names the key.
// Defaults: tasks 1, cpus 1, mem 512M, gpus 0, retries 0; a job with tasks > 1 is a gang unless
// gang is set to false explicitly (arrays are never gangs).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.h"
#include "core/status.h"

namespace muster::client {

struct JobSpecInput {
  std::optional<std::string> name, user, job_class, workdir, array, gpu_model, output, error;
  std::optional<std::vector<std::string>> command;
  std::map<std::string, std::string> env;
  std::optional<int> tasks, ranks_per_node, priority, gpus, max_retries;
  std::optional<bool> gang, checkpointable, requeue_on_timeout, singleton;
  std::optional<bool> cancel_on_preempt;  // on_preempt: requeue (false) or cancel (true)
  std::optional<std::vector<JobId>> after, after_any, after_notok;
  std::optional<MilliCpu> milli_cpus;
  std::optional<MiB> memory_mib, min_gpu_memory_mib, log_limit_mib;
  std::optional<double> est_work, est_time_s;
  std::optional<DurationMs> time_limit_ms, signal_grace_ms;
};

// The field keys, in documentation order.
const std::vector<std::string>& SpecFieldKeys();

// Sets one scalar field from its text form. Keys: see the header comment ("command" sets a
// shell command run with /bin/sh -c; "env" takes K=V; "after" takes a comma list of job ids).
// Errors: unknown key, or a value that does not parse (the message says what was expected).
Status SetSpecField(JobSpecInput& in, std::string_view key, const std::string& value);

// Parses a YAML job file. Errors name the offending key (and line where yaml-cpp knows it).
Result<JobSpecInput> ParseJobSpecYaml(const std::string& text);

// Overlays `top` on `base`: every field given in `top` replaces base's; env keys merge.
void OverlaySpec(JobSpecInput& base, const JobSpecInput& top);

struct SpecDefaults {
  std::string user;     // used when user is not given
  std::string workdir;  // used when workdir is not given
};

// Applies defaults, checks cross-field rules and JobSpec::Validate().
Result<JobSpec> BuildJobSpec(const JobSpecInput& in, const SpecDefaults& defaults);

// Parses "90", "90s", "1.5m", "2h", "1h30m", "1d" into seconds; nullopt if malformed.
std::optional<double> ParseDurationSeconds(std::string_view text);

}  // namespace muster::client
