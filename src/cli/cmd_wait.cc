// `muster submit --wait`: follows a job until it finishes.
//
// Polls GetJob every 250 ms. On a terminal, redraws a block of lines in place (ANSI cursor-up):
// a header with the job state and elapsed time, then either one progress line per task (jobs of
// up to 8 tasks: state, node, GPUs and the task's latest progress line) or, for arrays and larger
// jobs, one bar of finished/total with the task-state counts. Elsewhere (pipes, files) it prints
// a line only when it changed (times left out), at most once a second, so logs stay readable. A
// coordinator that stops answering is retried for up to 60 s (it may be restarting). Ctrl-C stops
// waiting only.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "core/job.h"

namespace muster::cli {

namespace {

constexpr int kMaxTaskLines = 8;
using Clock = std::chrono::steady_clock;


// `with_times` adds the elapsed time / predicted start, which change every second; without them
// a line changes only when the job's state or progress does.
std::vector<std::string> RenderJob(const v1::JobInfo& job, bool with_times) {
  std::vector<std::string> lines;
  std::string header =
      "job " + std::to_string(job.job_id()) + " (" + job.spec().name() + ") " +
      StateName(job.state());
  if (job.state() == v1::JOB_STATE_PENDING && !job.reason().empty()) {
    header += ": " + job.reason();
  } else if (with_times && job.start_ms() > 0) {
    int64_t end = job.end_ms() > 0 ? job.end_ms() : WallNowMs();
    header += "  elapsed " + client::FormatDurationShort(end - job.start_ms());
  } else if (with_times && job.predicted_start_ms() > 0) {
    header += "  predicted start " + client::FormatRelative(job.predicted_start_ms(), WallNowMs());
  }
  lines.push_back(header);
  bool per_task =
      !job.spec().has_array() && job.tasks_size() > 0 && job.tasks_size() <= kMaxTaskLines;
  if (per_task) {
    for (const auto& t : job.tasks()) {
      char head[96];
      std::snprintf(head, sizeof head, "  task %-3d %-10s", t.index(), StateName(t.state()));
      std::string line = head;
      if (!t.node().empty()) line += " " + t.node();
      if (t.gpus_size() > 0) line += " gpu " + client::FormatGpuList(t.gpus());
      std::string prog = client::FormatProgress(t.progress());
      if (!prog.empty()) line += "  " + prog;
      if ((t.state() == v1::TASK_STATE_FAILED || t.state() == v1::TASK_STATE_TIMEOUT ||
           t.state() == v1::TASK_STATE_OOM) &&
          !t.message().empty())
        line += "  " + t.message();
      lines.push_back(line);
    }
  } else {
    int total = client::TaskTotal(job);
    int finished = 0;
    for (const auto& [s, n] : job.task_state_counts())
      if (s == "succeeded" || s == "failed" || s == "cancelled" || s == "timeout" || s == "oom")
        finished += n;
    char frac[64];
    std::snprintf(frac, sizeof frac, " %d/%d finished  ", finished, total);
    lines.push_back("  " + client::ProgressBar(total > 0 ? double(finished) / total : 0, 30) +
                    frac + "(" + client::FormatTaskCounts(job) + ")");
  }
  return lines;
}

}  // namespace

int WaitForJob(client::CoordinatorClient& client, int64_t id, bool json) {
  const bool tty = !json && isatty(STDOUT_FILENO);
  std::vector<std::string> shown;  // what is on screen (tty) or was printed last (otherwise)
  Clock::time_point last_print{};
  Clock::time_point unreachable_since{};
  bool unreachable = false;
  v1::JobInfo job;
  while (true) {
    if (Interrupted()) {
      if (tty && !shown.empty()) std::cout << "\n";
      std::cout.flush();
      std::cerr << "muster: stopped waiting; job " << id << " keeps running (muster show " << id
                << ", muster cancel " << id << ")" << std::endl;
      return kExitInterrupted;
    }
    auto r = client.GetJob(id);
    if (!r.ok()) {
      if (r.status().code() != StatusCode::kUnavailable) return ReportError(r.status());
      if (!unreachable) {
        unreachable = true;
        unreachable_since = Clock::now();
      } else if (Clock::now() - unreachable_since > std::chrono::seconds(60)) {
        return ReportError(r.status());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    unreachable = false;
    job = std::move(*r);
    const auto state = cluster::FromProto(job.state());
    const bool finished = state.ok() && IsTerminal(*state);
    if (!json) {
      std::vector<std::string> lines = RenderJob(job, tty);
      if (tty) {
        if (!shown.empty()) std::cout << "\x1b[" << shown.size() << "F";  // up to the block start
        for (const auto& l : lines) std::cout << "\x1b[2K" << l << "\n";
        for (size_t i = lines.size(); i < shown.size(); ++i) std::cout << "\x1b[2K\n";
        if (shown.size() > lines.size()) std::cout << "\x1b[" << shown.size() - lines.size() << "F";
        std::cout.flush();
        shown = lines;
      } else if (lines != shown &&
                 (finished || Clock::now() - last_print > std::chrono::seconds(1))) {
        for (size_t i = 0; i < lines.size(); ++i)
          if (i >= shown.size() || lines[i] != shown[i]) std::cout << lines[i] << "\n";
        std::cout.flush();
        shown = lines;
        last_print = Clock::now();
      }
    }
    if (finished) break;
    for (int i = 0; i < 5 && !Interrupted(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (json) {
    std::cout << client::ToJson(job).dump(2) << std::endl;
  } else {
    std::string took = job.start_ms() > 0 && job.end_ms() > 0
                           ? " in " + client::FormatDurationShort(job.end_ms() - job.start_ms())
                           : "";
    const bool ok = job.state() == v1::JOB_STATE_SUCCEEDED;
    std::cout << "job " << id << " " << StateName(job.state()) << took
              << (!ok && !job.reason().empty() ? ": " + job.reason() : "") << std::endl;
  }
  return job.state() == v1::JOB_STATE_SUCCEEDED ? kExitOk : kExitFailed;
}

}  // namespace muster::cli
