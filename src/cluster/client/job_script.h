// Job scripts and the submitter's environment, as sbatch users expect them.
//
// `muster submit job.sh [ARGS]`: a text file that starts with "#!" or has "#MUSTER" lines is a
// job script. The "#MUSTER" lines of its header (the comment block at the top, up to the first
// line that is neither empty nor a comment) hold submit flags, read like #SBATCH lines; flags on
// the command line win. The script's text is taken at submit time (editing it afterwards changes
// nothing): a shell script (no "#!", or a #! line naming sh, bash, dash, zsh or ksh) runs as
// `SHELL -c TEXT PATH ARGS...`, so $0 is the path as given (relative to the job's workdir, as
// when it runs directly); a script for another interpreter runs from its path, which must then
// be executable on the node.
//
// --export: ALL (the default, as sbatch) gives the task the submitter's environment, so that an
// activated conda or venv reaches it, less muster's own variables (MUSTER_*, which hold
// credentials), those the agent sets for the task's user (HOME, USER, LOGNAME, SHELL, MAIL) and
// those that only mean something in the submitter's session (PWD, SHLVL, SSH_AUTH_SOCK, ...);
// NONE gives none of it; a comma list gives the named variables, and
// NAME=VALUE sets one. Variables set with --env (or a job file's env) always win.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/client/job_spec_input.h"
#include "core/status.h"

namespace muster::client {

struct JobScript {
  std::vector<std::string> directives;  // the flags of its #MUSTER lines, in order
  std::vector<std::string> command;     // how a task runs it
};

// The job script at `path` run with `args`; nullopt when the file is not a script (a binary, or
// text without "#!" or "#MUSTER"). Errors: unreadable, larger than 256 KiB, a malformed
// directive line (with its line number).
Result<std::optional<JobScript>> ReadJobScript(const std::string& path,
                                               const std::vector<std::string>& args);

// Splits a directive line's text into words as a shell would, without expansions: blanks
// separate, '…' and "…" quote, a backslash escapes the next character.
Result<std::vector<std::string>> SplitWords(const std::string& text);

// Applies submit flags (`--key VALUE`, `--key=VALUE`, and the switches --gang, --no-gang,
// --checkpointable, --requeue-on-timeout) to `in`; `export_mode` receives --export. Errors name
// the flag.
Status ApplyDirectives(const std::vector<std::string>& flags, JobSpecInput& in,
                       std::optional<std::string>* export_mode);

// The environment --export `mode` gives the task, from `environment` ("NAME=VALUE" strings).
Result<std::map<std::string, std::string>> ExportedEnv(const std::string& mode,
                                                       const std::vector<std::string>& environment);

}  // namespace muster::client
