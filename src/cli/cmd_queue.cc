// `muster queue` (pending and running jobs; --all adds finished ones) and `muster show JOB`.
//
// Times are relative to the coordinator's clock (JobList.now_ms): a job that has started shows
// when it started ("3m ago"), a pending one its predicted start ("in 3m"); FINISH is the actual
// end of a finished job, else the predicted finish from the current schedule.
#include <chrono>
#include <iostream>

#include "cli/cmd_client.h"
#include "core/resources.h"
#include "cluster/client/display.h"

namespace muster::cli {

namespace {


std::string ShortState(const std::string& s) {
  if (s == "running") return "run";
  if (s == "pending") return "pend";
  if (s == "launching") return "launch";
  if (s == "succeeded") return "ok";
  if (s == "failed") return "fail";
  if (s == "cancelled") return "cancel";
  return s;
}

// "0.42s" under 10 s, else "3m", "1h20m".
std::string CpuTimeCell(double seconds) {
  if (seconds >= 10) return client::FormatDurationShort(static_cast<int64_t>(seconds * 1000));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", seconds);
  return buf;
}

// "100: 8 run, 55 pend, 37 ok" (or just "1 run" for a single task).
std::string TaskCell(const v1::JobInfo& job) {
  std::map<std::string, int> counts(job.task_state_counts().begin(), job.task_state_counts().end());
  if (counts.empty())
    for (const auto& t : job.tasks()) ++counts[StateName(t.state())];
  std::string out;
  for (const char* s :
       {"running", "launching", "pending", "succeeded", "failed", "timeout", "oom", "lost",
        "cancelled"}) {
    auto it = counts.find(s);
    if (it == counts.end() || it->second == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(it->second) + " " + ShortState(s);
  }
  int total = client::TaskTotal(job);
  return total > 1 ? std::to_string(total) + ": " + out : (out.empty() ? "1" : out);
}

std::string StartCell(const v1::JobInfo& j, int64_t now) {
  if (j.start_ms() > 0) return client::FormatRelative(j.start_ms(), now);
  return client::FormatRelative(j.predicted_start_ms(), now);
}

std::string FinishCell(const v1::JobInfo& j, int64_t now) {
  if (j.end_ms() > 0) return client::FormatRelative(j.end_ms(), now);
  return client::FormatRelative(j.predicted_finish_ms(), now);
}

// Run time so far (running) or in all (finished); "-" before it starts.
std::string ElapsedCell(const v1::JobInfo& j, int64_t now) {
  if (j.start_ms() <= 0) return "-";
  const int64_t end = j.end_ms() > 0 ? j.end_ms() : now;
  return client::FormatDurationShort(std::max<int64_t>(0, end - j.start_ms()));
}

// "node-0,node-1", or "node-0,+3" beyond two.
std::string NodesCell(const v1::JobInfo& j) {
  if (j.nodes().empty()) return "-";
  std::string out = j.nodes(0);
  if (j.nodes_size() > 1) out += "," + j.nodes(1);
  if (j.nodes_size() > 2) out += ",+" + std::to_string(j.nodes_size() - 2);
  return out;
}

int RunQueue(const ClientFlags& f, bool all, int limit, const JobFilter& filter,
             bool history = false) {
  auto client = MakeClient(f);
  v1::ListJobsRequest req;
  req.set_include_finished(all);
  req.set_limit(limit);
  if (Status s = FillFilter(filter, req); !s.ok()) return ReportError(s);
  if (history && req.states().empty())
    for (v1::JobState s : {v1::JOB_STATE_SUCCEEDED, v1::JOB_STATE_FAILED, v1::JOB_STATE_CANCELLED,
                           v1::JOB_STATE_TIMEOUT, v1::JOB_STATE_OOM})
      req.add_states(s);
  auto list = client.ListJobs(req);
  if (!list.ok()) return ReportError(list.status());
  WarnIfReadOnly(list->store_condition());
  if (f.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& j : list->jobs()) out.push_back(client::ToJson(j));
    std::cout << out.dump(2) << std::endl;
    return kExitOk;
  }
  int64_t now = list->now_ms() > 0 ? list->now_ms() : WallNowMs();
  client::TextTable table({"ID", "NAME", "USER", "STATE", "TASKS", "GPUS", "START", "FINISH",
                           "ELAPSED", "NODES", "REASON"});
  for (const auto& j : list->jobs()) {
    int gpus = j.spec().resources().gpus() * client::TaskTotal(j);
    table.AddRow({std::to_string(j.job_id()), j.spec().name(), j.spec().user(), StateName(j.state()),
                  TaskCell(j), gpus > 0 ? std::to_string(gpus) : "-", StartCell(j, now),
                  FinishCell(j, now), ElapsedCell(j, now), NodesCell(j), j.reason()});
  }
  if (table.size() == 0) {
    std::cout << (history ? "no finished jobs\n"
                  : all   ? "no jobs\n"
                          : "no pending or running jobs (muster queue --all shows finished ones)\n");
    return kExitOk;
  }
  std::cout << table.Render();
  if (!history && !list->user_shares().empty()) {
    // Lower runs first under the fairshare policy.
    std::map<std::string, double> shares(list->user_shares().begin(), list->user_shares().end());
    std::string line = "fair share (held now + past usage, half-life " +
                       client::FormatDurationShort(list->fairshare_half_life_ms()) + "):";
    for (const auto& [user, share] : shares) {
      char cell[64];
      std::snprintf(cell, sizeof cell, " %s %.3f", user.c_str(), share);
      line += cell;
    }
    std::cout << line << "\n";
  }
  return kExitOk;
}

void PrintField(const std::string& key, const std::string& value) {
  if (value.empty()) return;
  std::printf("  %-11s %s\n", key.c_str(), value.c_str());
}

std::string JoinItems(const auto& items, const char* sep) {
  std::string out;
  for (const auto& i : items) {
    std::string s;
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(i)>>)
      s = std::to_string(i);
    else
      s = i;
    out += (out.empty() ? "" : sep) + s;
  }
  return out;
}

// Above this many tasks, `show` summarises them by state and lists only the ones worth a look
// (running, failed, lost, ...; at most kShownTasks); --tasks lists them all.
constexpr int kShownTasks = 20;

int RunShow(const ClientFlags& f, const std::string& id_text, bool all_tasks) {
  auto id = ParseJobId(id_text);
  if (!id) return ReportError(Status::InvalidArgument("'" + id_text + "' is not a job id"));
  auto client = MakeClient(f);
  auto r = client.GetJob(*id);
  if (!r.ok()) return ReportError(r.status());
  const v1::JobInfo& j = *r;
  if (f.json()) {
    std::cout << client::ToJson(j).dump(2) << std::endl;
    return kExitOk;
  }
  const v1::JobSpec& s = j.spec();
  int64_t now = WallNowMs();
  std::printf("job %lld  %s\n", static_cast<long long>(j.job_id()), s.name().c_str());
  PrintField("state", StateName(j.state()));
  PrintField("reason", j.reason());
  PrintField("user", s.user());
  PrintField("class", s.job_class());
  // A job script's text (SHELL -c TEXT NAME ARGS...) is shown by its name, not line by line.
  const auto& c = s.command();
  if (c.size() >= 4 && c[1] == "-c" && c[2].find('\n') != std::string::npos) {
    const auto lines = std::count(c[2].begin(), c[2].end(), '\n');
    std::string args;
    for (int i = 4; i < c.size(); ++i) args += " " + c[i];
    PrintField("command", "script " + c[3] + args + " (" + std::to_string(lines) +
                              " lines, as submitted; -o json shows them)");
  } else {
    PrintField("command", JoinItems(c, " "));
  }
  PrintField("workdir", s.workdir());
  std::string shape;
  if (s.has_array())
    shape = "array " + cluster::FormatArrayRange(s) + " (" + std::to_string(client::TaskTotal(j)) + " tasks)";
  else if (s.gang())
    shape = "gang of " + std::to_string(s.tasks()) + " ranks" +
            (s.ranks_per_node() > 0 ? ", " + std::to_string(s.ranks_per_node()) + " per node" : "");
  else
    shape = std::to_string(std::max(1, s.tasks())) + (s.tasks() > 1 ? " tasks" : " task");
  PrintField("tasks", shape);
  PrintField("resources", client::FormatRequest(s.resources()) + " per task");
  PrintField("after", JoinItems(s.after(), ", "));
  std::string opts = "priority " + std::to_string(s.priority()) + ", retries " +
                     std::to_string(s.max_retries()) +
                     (s.checkpointable() ? ", checkpointable" : "");
  if (s.time_limit_ms() > 0)
    opts += ", time limit " + FormatDurationMs(s.time_limit_ms()) + " (then SIGTERM, SIGKILL " +
            FormatDurationMs(s.signal_grace_ms() > 0 ? s.signal_grace_ms() : 30000) + " later" +
            (s.requeue_on_timeout() ? "; requeued to resume" : "") + ")";
  if (s.cancel_on_preempt()) opts += ", cancelled if preempted";
  PrintField("options", opts);
  if (s.est_time_s() > 0 || s.est_work() > 0) {
    std::string est;
    if (s.est_time_s() > 0)
      est = "time " + client::FormatDurationShort(int64_t(s.est_time_s() * 1000));
    if (s.est_work() > 0)
      est += (est.empty() ? "" : ", ") + std::string("work ") + std::to_string(s.est_work());
    PrintField("estimate", est);
  }
  std::vector<std::string> env;
  for (const auto& [k, v] : s.env()) env.push_back(k + "=" + v);
  std::sort(env.begin(), env.end());
  PrintField("env", JoinItems(env, " "));
  PrintField("submitted", client::FormatRelative(j.submit_ms(), now));
  PrintField("started", j.start_ms() > 0 ? client::FormatRelative(j.start_ms(), now) : "");
  PrintField("finished", j.end_ms() > 0 ? client::FormatRelative(j.end_ms(), now) : "");
  if (j.submit_prediction_made_ms() > 0) {
    // "start in 12m, finish in 1h05m; started after 14m, finished after 1h01m", from submit.
    const int64_t at = j.submit_ms();
    auto after = [at](int64_t t) { return client::FormatDurationShort(std::max<int64_t>(0, t - at)); };
    std::string s = "start in " + after(j.submit_predicted_start_ms()) + ", finish in " +
                    after(j.submit_predicted_finish_ms());
    if (j.start_ms() > 0) s += "; started after " + after(j.start_ms());
    if (j.end_ms() > 0) s += ", finished after " + after(j.end_ms());
    PrintField("at submit", "predicted " + s);
  }
  if (j.end_ms() == 0) {
    std::string pred;
    if (j.start_ms() == 0 && j.predicted_start_ms() > 0)
      pred = "start " + client::FormatRelative(j.predicted_start_ms(), now);
    if (j.predicted_finish_ms() > 0)
      pred += (pred.empty() ? "" : ", ") + std::string("finish ") +
              client::FormatRelative(j.predicted_finish_ms(), now);
    PrintField("predicted", pred);
  }
  // What happened to it (attempts requeued, migrations, preemptions, holds), newest last.
  auto print_history = [&j] {
    if (j.history_size() == 0) return;
    std::printf("\nhistory\n");
    for (const auto& h : j.history()) std::printf("  %s\n", h.c_str());
  };
  if (j.tasks_size() == 0) {
    PrintField("task states", client::FormatTaskCounts(j));
    print_history();
    return kExitOk;
  }
  const bool summarise = !all_tasks && j.tasks_size() > kShownTasks;
  int hidden = 0;
  if (summarise) PrintField("task states", client::FormatTaskCounts(j));
  std::printf("\n");
  client::TextTable t(
      {"TASK", "STATE", "NODE", "GPUS", "ATTEMPT", "EXIT", "START", "END", "PEAK MEM", "CPU TIME",
       "PROGRESS"});
  int shown = 0;
  for (const auto& task : j.tasks()) {
    if (summarise &&
        (task.state() == v1::TASK_STATE_SUCCEEDED || task.state() == v1::TASK_STATE_PENDING ||
         shown >= kShownTasks)) {
      ++hidden;
      continue;
    }
    ++shown;
    const v1::TaskState st = task.state();
    const bool ended = st == v1::TASK_STATE_SUCCEEDED || st == v1::TASK_STATE_FAILED ||
                       st == v1::TASK_STATE_TIMEOUT || st == v1::TASK_STATE_OOM;
    std::string progress = client::FormatProgress(task.progress(), 10);
    if (!task.message().empty() && task.state() != v1::TASK_STATE_SUCCEEDED)
      progress += (progress.empty() ? "" : "  ") + task.message();
    t.AddRow({std::to_string(task.index()), StateName(st), task.node().empty() ? "-" : task.node(),
              client::FormatGpuList(task.gpus()),
              task.attempt() > 0 ? std::to_string(task.attempt()) : "-",
              ended ? std::to_string(task.exit_code()) : "-",
              client::FormatRelative(task.start_ms(), now),
              client::FormatRelative(task.end_ms(), now),
              ended && task.peak_memory_mib() > 0 ? client::FormatMiB(task.peak_memory_mib()) : "-",
              ended && task.cpu_seconds() >= 0 ? CpuTimeCell(task.cpu_seconds()) : "-",
              progress});
  }
  if (shown > 0) std::cout << t.Render();
  if (hidden > 0)
    std::printf("(%d more tasks, pending or succeeded or beyond the first %d: muster show %lld "
                "--tasks lists them all)\n",
                hidden, kShownTasks, static_cast<long long>(j.job_id()));
  print_history();
  return kExitOk;
}

}  // namespace

void AddQueueCommands(CLI::App& app, CommandContext& ctx) {
  struct QueueFlags {
    ClientFlags client;
    bool all = false;
    int limit = 0;
    JobFilter filter;
  };
  auto q = std::make_shared<QueueFlags>();
  CLI::App* queue = app.add_subcommand("queue", "List pending and running jobs");
  queue->add_flag("-a,--all", q->all, "include finished jobs");
  queue->add_option("--limit", q->limit, "show at most this many jobs (0 = all)")
      ->check(CLI::NonNegativeNumber);
  AddFilterFlags(*queue, q->filter);
  AddClientFlags(*queue, q->client);
  queue->callback([q, &ctx] { ctx.exit_code = RunQueue(q->client, q->all, q->limit, q->filter); });

  auto h = std::make_shared<QueueFlags>();
  h->filter.since = "7d";
  CLI::App* history =
      app.add_subcommand("history", "List finished jobs: how they ended, and why");
  history->add_option("--since", h->filter.since, "submitted or ended within this long")
      ->capture_default_str();
  history->add_option("--limit", h->limit, "show at most this many jobs, the newest (0 = all)")
      ->check(CLI::NonNegativeNumber);
  AddFilterFlags(*history, h->filter);
  AddClientFlags(*history, h->client);
  history->callback([h, &ctx] {
    ctx.exit_code = RunQueue(h->client, /*all=*/true, h->limit, h->filter, /*history=*/true);
  });

  struct ShowFlags {
    ClientFlags client;
    std::string job;
    bool tasks = false;
  };
  auto s = std::make_shared<ShowFlags>();
  CLI::App* show = app.add_subcommand("show", "Show one job: spec, state, reason and every task");
  show->add_option("job", s->job, "job id")->required();
  show->add_flag("--tasks", s->tasks,
                 "list every task (a job of more than 20 tasks is otherwise summarised by state)");
  AddClientFlags(*show, s->client);
  show->callback([s, &ctx] { ctx.exit_code = RunShow(s->client, s->job, s->tasks); });
}

}  // namespace muster::cli
