// `muster top`: a live view of the cluster refreshed every --interval (1 s): per-node load bars
// and the balance metrics with their trend (GetBalance, formatted as `muster balance` does), then
// the running jobs (ListJobs). Each frame is a plain redraw: ANSI "home + clear screen", then the
// text. Quits on 'q' (stdin is put in non-canonical mode while it is a terminal) or Ctrl-C.
// `--once` prints one frame without escape codes and exits (for scripts and tests).
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"

namespace muster::cli {

Result<v1::BalanceStatus> FetchBalance(const ClientFlags& flags, int trend_points);  // cmd_balance
std::string FormatBalanceView(const v1::BalanceStatus& st, int bar_width);           // cmd_balance

namespace {

struct TopFlags {
  ClientFlags client;
  bool once = false;
  double interval_s = 1.0;
};

std::string Frame(const TopFlags& f, client::CoordinatorClient& c) {
  auto st = FetchBalance(f.client, 40);
  if (!st.ok()) return "muster: " + st.status().message() + "\n";
  std::string o = FormatBalanceView(*st, 20);
  v1::ListJobsRequest req;
  req.set_with_tasks(true);
  auto jobs = c.ListJobs(req);
  if (!jobs.ok()) return o + "jobs: " + jobs.status().message() + "\n";
  client::TextTable t({"JOB", "NAME", "STATE", "TASKS", "NODES", "PROGRESS", "RUNNING FOR"});
  int shown = 0;
  for (const auto& j : jobs->jobs()) {
    if (j.state() != v1::JOB_STATE_RUNNING) continue;
    std::string nodes, progress;
    for (const auto& task : j.tasks()) {
      if (task.state() != v1::TASK_STATE_RUNNING && task.state() != v1::TASK_STATE_LAUNCHING)
        continue;
      if (nodes.find(task.node()) == std::string::npos)
        nodes += (nodes.empty() ? "" : ",") + task.node();
      if (progress.empty() && task.has_progress() && task.progress().total() > 0)
        progress = client::FormatProgress(task.progress(), 12);
    }
    t.AddRow({std::to_string(j.job_id()), j.spec().name(), StateName(j.state()),
              client::FormatTaskCounts(j),
              nodes.empty() ? "-" : nodes, progress.empty() ? "-" : progress,
              j.start_ms() > 0 ? client::FormatDurationShort(jobs->now_ms() - j.start_ms()) : "-"});
    ++shown;
  }
  o += "\n";
  o += shown == 0 ? std::string("no running jobs\n") : "running jobs:\n" + t.Render();
  return o;
}

int RunTop(const TopFlags& f) {
  auto client = MakeClient(f.client);
  // Not on a terminal (a pipe, a file, a cron job): one frame, as --once, without screen codes.
  if (f.once || !::isatty(STDOUT_FILENO)) {
    auto st = FetchBalance(f.client, 1);  // reachability check with the proper exit code
    if (!st.ok()) return ReportError(st.status());
    std::cout << Frame(f, client) << std::flush;
    return kExitOk;
  }
  CatchInterrupts();
  const bool tty = ::isatty(STDIN_FILENO);
  termios saved{};
  if (tty && ::tcgetattr(STDIN_FILENO, &saved) == 0) {
    termios raw = saved;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  const int wait_ms = std::max(50, static_cast<int>(f.interval_s * 1000));
  bool quit = false;
  bool stdin_open = true;  // false once stdin hit end of file (then only Ctrl-C quits)
  while (!quit && !Interrupted()) {
    std::cout << "\033[H\033[2J" << Frame(f, client) << "\n(q or Ctrl-C quits; refreshed every "
              << f.interval_s << "s)" << std::flush;
    for (int waited = 0; waited < wait_ms && !quit && !Interrupted(); waited += 100) {
      const int slice = std::min(100, wait_ms - waited);
      pollfd p{STDIN_FILENO, POLLIN, 0};
      if (!stdin_open) {
        ::poll(nullptr, 0, slice);  // just wait
      } else if (::poll(&p, 1, slice) > 0 && (p.revents & (POLLIN | POLLHUP))) {
        char ch = 0;
        if (::read(STDIN_FILENO, &ch, 1) <= 0) {
          stdin_open = false;  // e.g. </dev/null: keep refreshing until Ctrl-C
        } else if (ch == 'q' || ch == 'Q') {
          quit = true;
        }
      }
    }
  }
  if (tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

void AddTopCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<TopFlags>();
  auto* cmd = app.add_subcommand("top", "Live view: node loads, balance metrics, running jobs");
  AddClientFlags(*cmd, f->client, /*with_output=*/false);
  cmd->add_flag("--once", f->once, "Print one frame and exit");
  cmd->add_option("--interval", f->interval_s, "Seconds between refreshes")->capture_default_str();
  cmd->callback([f, &ctx] { ctx.exit_code = RunTop(*f); });
}

}  // namespace muster::cli
