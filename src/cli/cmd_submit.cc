// `muster submit [flags] -- CMD ARGS...`, `muster submit [flags] job.sh [ARGS]` (a job script with
// #MUSTER lines, job_script.h), `muster submit --wrap "CMD"` and `muster submit -f job.yaml`.
//
// The job file is read first, then a script's #MUSTER directives, then every flag the user gave
// is overlaid (flags win); the --export environment goes under all of them; then
// defaults apply (workdir = the current directory; the owner is the caller, as the coordinator
// knows it, unless an admin gives --user) and the spec is validated here,
// so malformed input fails with one line before anything is sent. The coordinator validates again
// and may reject the job as infeasible (exit 5), naming the largest node.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "cluster/client/job_script.h"
#include "cluster/client/job_spec_input.h"
#include "cluster/common/convert.h"

namespace muster::cli {

namespace {

struct SubmitFlags {
  ClientFlags client;
  std::string file;
  // Scalar fields by their spec key; only the flags the user gave are applied.
  std::map<std::string, std::string> scalars;
  std::vector<std::string> env, after, after_any, after_notok, command;
  bool singleton = false, hold = false;
  std::string wrap, export_mode = "ALL";
  bool gang = false, no_gang = false, checkpointable = false, requeue_on_timeout = false;
  bool wait = false, quiet = false;
};

Result<client::JobSpecInput> ReadSpecFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read job file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = client::ParseJobSpecYaml(ss.str());
  if (!parsed.ok()) return Status::InvalidArgument(path + ": " + parsed.status().message());
  return parsed;
}

Result<JobSpec> BuildSpec(const SubmitFlags& f, CLI::App& cmd) {
  client::JobSpecInput spec;
  if (!f.file.empty()) {
    auto file = ReadSpecFile(f.file);
    if (!file.ok()) return file.status();
    spec = std::move(*file);
  }
  if (!f.wrap.empty() && !f.command.empty())
    return Status::InvalidArgument("give a command or --wrap, not both");
  std::optional<std::string> script_export;
  std::vector<std::string> command = f.command;
  if (!f.wrap.empty()) command = {"/bin/sh", "-c", f.wrap};
  if (f.wrap.empty() && !command.empty()) {
    // A job script: its #MUSTER lines, under the flags.
    auto script = client::ReadJobScript(
        command[0], std::vector<std::string>(command.begin() + 1, command.end()));
    if (!script.ok()) return script.status();
    if (*script) {
      client::JobSpecInput directives;
      directives.name = std::filesystem::path(command[0]).filename().string();
      Status st = client::ApplyDirectives((*script)->directives, directives, &script_export);
      if (!st.ok()) return Status::InvalidArgument(command[0] + ": #MUSTER " + st.message());
      client::OverlaySpec(spec, directives);
      command = (*script)->command;
    }
  }
  client::JobSpecInput flags;
  for (const auto& [key, value] : f.scalars) {
    std::string flag = "--" + key;
    for (char& c : flag)
      if (c == '_') c = '-';
    if (cmd.get_option(flag)->count() == 0) continue;
    Status st = client::SetSpecField(flags, key, value);
    if (!st.ok()) return Status::InvalidArgument(flag + ": " + st.message());
  }
  for (const auto& e : f.env) {
    Status st = client::SetSpecField(flags, "env", e);
    if (!st.ok()) return Status::InvalidArgument("--env: " + st.message());
  }
  for (const auto& [list, key] : {std::pair{&f.after, "after"}, std::pair{&f.after_any, "afterany"},
                                   std::pair{&f.after_notok, "afternotok"}})
    for (const auto& a : *list) {
      Status st = client::SetSpecField(flags, key, a);
      if (!st.ok()) return Status::InvalidArgument(std::string("--") + key + ": " + st.message());
    }
  if (f.singleton) flags.singleton = true;
  if (f.gang && f.no_gang) return Status::InvalidArgument("give --gang or --no-gang, not both");
  if (f.gang) flags.gang = true;
  if (f.no_gang) flags.gang = false;
  if (f.checkpointable) flags.checkpointable = true;
  if (f.requeue_on_timeout) flags.requeue_on_timeout = true;
  if (!command.empty()) flags.command = command;
  client::OverlaySpec(spec, flags);
  // The submitter's environment goes under everything the job sets itself.
  const std::string mode = cmd.get_option("--export")->count() > 0 ? f.export_mode
                           : script_export                          ? *script_export
                                                                    : std::string("ALL");
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  auto exported = client::ExportedEnv(mode, environment);
  if (!exported.ok()) return exported.status();
  client::JobSpecInput with_env;
  with_env.env = std::move(*exported);
  client::OverlaySpec(with_env, spec);
  spec = std::move(with_env);

  std::error_code ec;
  std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (spec.workdir && std::filesystem::path(*spec.workdir).is_relative())
    spec.workdir = (cwd / *spec.workdir).lexically_normal().string();
  // No user by default: the coordinator makes the caller, as its credential names it, the owner.
  auto built = client::BuildJobSpec(spec, {.user = "", .workdir = cwd.string()});
  if (built.ok() && f.hold) built->hold = true;
  return built;
}

int RunSubmit(SubmitFlags& f, CLI::App& cmd) {
  auto spec = BuildSpec(f, cmd);
  if (!spec.ok()) return ReportError(spec.status());
  v1::JobSpec wire;
  cluster::ToProto(*spec, &wire);
  auto client = MakeClient(f.client);
  auto id = client.Submit(wire);
  if (!id.ok()) return ReportError(id.status());
  if (f.client.json() && !f.wait) {
    std::cout << nlohmann::json{{"job_id", *id}}.dump() << std::endl;
  } else if (f.quiet || f.client.json()) {
    if (!f.client.json()) std::cout << *id << std::endl;
  } else {
    std::cout << "submitted job " << *id << " (" << spec->name << ", " << spec->TaskCount()
              << (spec->TaskCount() == 1 ? " task" : " tasks") << (spec->gang ? ", gang" : "")
              << ")" << std::endl;
  }
  if (!f.wait) return kExitOk;
  CatchInterrupts();
  return WaitForJob(client, *id, f.client.json());
}

}  // namespace

void AddSubmitCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<SubmitFlags>();
  CLI::App* cmd = app.add_subcommand(
      "submit",
      "Submit a job: muster submit [flags] -- CMD ARGS...,  muster submit job.sh,  or  "
      "muster submit -f job.yaml");
  cmd->add_option("-f,--file", f->file, "YAML job file (same fields as the flags; flags win)")
      ->check(CLI::ExistingFile);
  struct Scalar {
    const char* flag;
    const char* key;
    const char* help;
  };
  const Scalar scalars[] = {
      {"--name", "name", "job name (default: the command's base name)"},
      {"--user", "user", "owner of the job (admins only; default: you, as the coordinator knows you)"},
      {"--class", "class", "job class, groups similar jobs for run-time calibration"},
      {"--tasks", "tasks", "number of tasks; with N > 1 a gang of N ranks (see --no-gang)"},
      {"--ranks-per-node", "ranks_per_node", "gang: exact ranks on each node (0 = any)"},
      {"--array", "array",
       "array job, one task per index: FIRST-LAST[%MAX_RUNNING], e.g. 0-999%50"},
      {"--priority", "priority", "priority (higher first under the priority policy)"},
      {"--cpus", "cpus", "CPUs per task: 1, 0.5 or 500m (default 1)"},
      {"--mem", "mem",
       "memory per task, then also its limit where the node enforces it: 512M, 4G (default: "
       "512M reserved, not a limit)"},
      {"--gpus", "gpus", "GPUs per task (default 0)"},
      {"--gpu-mem", "gpu_mem", "minimum memory of each GPU, e.g. 16G"},
      {"--gpu-model", "gpu_model", "GPU model substring, e.g. H100"},
      {"--est-time", "est_time", "estimated run time: 90, 90s, 5m, 1h30m"},
      {"--est-work", "est_work", "estimated work units for the execution-time model"},
      {"--retries", "retries", "times a failed task is retried (default 0)"},
      {"--time", "time",
       "time limit of each attempt: 2h, 90m, 1h30m, or as sbatch: 30 (minutes), 1:30:00, 2-12; "
       "then SIGTERM, SIGKILL after --signal-grace, state timeout (default: the cluster's)"},
      {"--signal-grace", "signal_grace",
       "SIGTERM to SIGKILL at the time limit (default 30s)"},
      {"--on-preempt", "on_preempt",
       "requeue or cancel: what a task of this job does when preemption stops it (default "
       "requeue; a checkpointable one then resumes from its checkpoint)"},
      {"--workdir", "workdir", "working directory of the tasks (default: current directory)"},
      {"-o,--output", "output",
       "also write each task's stdout to this file (relative to --workdir), as sbatch: %j job id, "
       "%t or %a task index, %x name, %u user, %N node, %r attempt; appended to"},
      {"-e,--error", "error", "also write each task's stderr to this file (default: --output's)"},
      {"--log-limit", "log_limit",
       "output kept per stream of each attempt, e.g. 16M: the first and last halves (default: "
       "the cluster's, 64M)"},
  };
  for (const auto& s : scalars) cmd->add_option(s.flag, f->scalars[s.key], s.help);
  cmd->add_flag("--gang", f->gang, "all tasks start together or none (default when --tasks > 1)");
  cmd->add_flag("--no-gang", f->no_gang, "with --tasks N: N independent tasks instead of a gang");
  cmd->add_flag("--requeue-on-timeout", f->requeue_on_timeout,
                "checkpointable: at the time limit, requeue the job to resume from its checkpoint "
                "(uses no retry)");
  cmd->add_flag("--checkpointable", f->checkpointable,
                "the job saves and resumes from $MUSTER_CHECKPOINT_DIR (may be migrated)");
  cmd->add_option("--env", f->env, "environment variable K=V for the tasks (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--after,--afterok", f->after,
                  "run only after these jobs succeeded (repeatable, or 1,2)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--afterany", f->after_any, "run once these jobs have ended, however they ended")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--afternotok", f->after_notok,
                  "run only if these jobs ended without succeeding (failed, timed out, cancelled)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_flag("-H,--hold", f->hold, "submit it held: it starts once `muster release JOB`");
  cmd->add_flag("--singleton", f->singleton,
                "wait until every earlier job of yours with the same name has ended");
  cmd->add_flag("--wait", f->wait,
                "follow the job with live progress and exit with its status (0 succeeded, 1 not)");
  cmd->add_flag("-q,--quiet", f->quiet, "print only the job id");
  // -o/--output names the output file here, as for sbatch; JSON is --json.
  AddClientFlags(*cmd, f->client, /*with_output=*/false);
  cmd->add_flag_callback(
      "--json", [f] { f->client.output = "json"; },
      "print the job as JSON (with --wait: the final job, as muster show -o json)");
  cmd->add_option("--wrap", f->wrap, "run this command line with /bin/sh -c");
  cmd->add_option("--export", f->export_mode,
                  "environment the tasks get from here: ALL (less muster's own and session "
                  "variables), NONE, or NAME,NAME=VALUE,...")
      ->capture_default_str();
  cmd->add_option("command", f->command,
                  "the command to run, after --; or a job script and its arguments");
  cmd->footer(
      "Examples:\n"
      "  muster submit --gpus 1 -- python train.py --epochs 3\n"
      "  muster submit --tasks 2 --gpus 1 --wait -- python ddp.py     (a 2-rank gang)\n"
      "  muster submit --array 0-99%10 -- ./part.sh                   (100 independent tasks)\n"
      "  muster submit --after 12 -- ./merge.sh\n"
      "  muster submit job.sh                     (#MUSTER --gpus 2 lines at its top)\n"
      "  muster submit --wrap 'make -j4 && ./test'\n"
      "  muster submit -f job.yaml --priority 5");
  cmd->callback([f, cmd, &ctx] { ctx.exit_code = RunSubmit(*f, *cmd); });
}

}  // namespace muster::cli
