// `muster logs JOB[.TASK] [-f] [--stderr]`: prints a task's captured stdout (or stderr).
// Without .TASK a one-task job shows task 0's log; a job with several tasks shows all of them,
// each complete line prefixed with "[TASK] ". With -f it keeps streaming until the task ends;
// Ctrl-C stops following. Following on a terminal, progress lines ("MUSTER_PROGRESS ...") are
// shown as progress bars; piped output stays exactly as the task printed it.
#include <unistd.h>

#include <iostream>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "cluster/common/convert.h"
#include "cluster/common/progress.h"

namespace muster::cli {

namespace {

struct LogsFlags {
  ClientFlags client;
  std::string target;
  bool follow = false;
  bool stderr_stream = false;
};

int RunLogs(const LogsFlags& f) {
  std::string job_text = f.target;
  std::optional<int> task;
  if (size_t dot = f.target.find('.'); dot != std::string::npos) {
    job_text = f.target.substr(0, dot);
    std::string t = f.target.substr(dot + 1);
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
      return ReportError(Status::InvalidArgument("'" + f.target + "' is not JOB or JOB.TASK"));
    task = std::stoi(t);
  }
  auto id = ParseJobId(job_text);
  if (!id) return ReportError(Status::InvalidArgument("'" + f.target + "' is not JOB or JOB.TASK"));
  auto client = MakeClient(f.client);
  auto job = client.GetJob(*id);
  if (!job.ok()) return ReportError(job.status());
  int total = job->tasks_size();
  if (task) {
    bool known = total == 0;
    for (const auto& t : job->tasks()) known |= t.index() == *task;
    if (!known)
      return ReportError(
          Status::NotFound("job " + std::to_string(*id) + " has no task " + std::to_string(*task)));
  }
  int index = task ? *task : (total == 1 ? job->tasks(0).index() : -1);
  // Nothing to show yet, and (without -f) nothing to wait for: say why instead of printing
  // nothing.
  bool started = false;
  for (const auto& t : job->tasks())
    started = started || ((index == -1 || t.index() == index) && t.attempt() > 0);
  if (!started && !f.follow) {
    std::cerr << "muster: job " << *id << (task ? " task " + std::to_string(*task) : "")
              << " has not started yet (" << StateName(job->state())
              << (job->reason().empty() ? "" : ": " + job->reason())
              << "); muster logs -f waits for its output\n";
    return kExitOk;
  }
  bool prefix = index == -1;

  v1::LogRequest req;
  req.set_job_id(*id);
  req.set_task_index(index);
  req.set_follow(f.follow);
  req.set_stderr(f.stderr_stream);
  if (f.follow) CatchInterrupts();
  // Raw bytes pass straight through unless lines must be rewritten (task prefixes, or progress
  // bars when following on a terminal); then output is cut into complete lines per task.
  const bool bars = f.follow && isatty(STDOUT_FILENO);
  const bool by_line = prefix || bars;
  auto print_line = [&](int task_index, const std::string& line) {  // line ends with '\n' or not
    if (prefix) std::cout << "[" << task_index << "] ";
    if (bars) {
      if (auto p = ParseProgressLine(line)) {
        v1::Progress wire;
        cluster::ToProto(*p, 0, &wire);
        std::cout << client::FormatProgress(wire) << "\n";
        return;
      }
    }
    std::cout << line;
  };
  std::map<int, std::string> partial;  // per task, an unfinished line
  Status st = client.ReadLogs(
      req,
      [&](const v1::LogChunk& c) {
        if (!by_line) {
          std::cout.write(c.data().data(), static_cast<std::streamsize>(c.data().size()));
          std::cout.flush();
          return true;
        }
        std::string& buf = partial[c.task_index()];
        buf += c.data();
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          print_line(c.task_index(), buf.substr(0, nl + 1));
          buf.erase(0, nl + 1);
        }
        std::cout.flush();
        return true;
      },
      f.follow ? &Interrupted() : nullptr);
  for (const auto& [t, rest] : partial)
    if (!rest.empty()) print_line(t, rest + "\n");
  std::cout.flush();
  if (!st.ok()) return ReportError(st);
  return Interrupted() ? kExitInterrupted : kExitOk;
}

}  // namespace

void AddLogsCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<LogsFlags>();
  CLI::App* cmd = app.add_subcommand("logs", "Print a task's output: muster logs JOB[.TASK] [-f]");
  cmd->add_option("target", f->target, "JOB or JOB.TASK")->required();
  cmd->add_flag("-f,--follow", f->follow, "keep printing new output until the task ends");
  cmd->add_flag("--stderr", f->stderr_stream, "print stderr instead of stdout");
  AddClientFlags(*cmd, f->client, /*with_output=*/false);
  cmd->callback([f, &ctx] { ctx.exit_code = RunLogs(*f); });
}

}  // namespace muster::cli
