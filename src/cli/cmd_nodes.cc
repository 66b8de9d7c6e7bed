// `muster nodes` (the cluster's machines) and the cluster schedule table that `muster schedule`
// prints when it is given no --etc/--dag (ShowClusterSchedule, declared in commands.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <algorithm>
#include <map>
#include <vector>

#include "cli/cmd_client.h"
#include "model/prediction_accuracy.h"
#include "model/balance.h"
#include "cluster/client/display.h"

namespace muster::cli {

namespace {


std::string CpuCell(int64_t free_milli, int64_t total_milli) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g/%g", free_milli / 1000.0, total_milli / 1000.0);
  return buf;
}

// "virtual" / "NVIDIA H100 80GB HBM3 80G"; mixed models are listed with counts.
std::string GpuModelCell(const v1::NodeSpec& spec) {
  std::map<std::string, int> models;
  for (const auto& g : spec.gpus()) {
    std::string m =
        g.is_virtual() ? "virtual" : g.model() + " " + client::FormatMiB(g.memory_mib());
    ++models[m];
  }
  std::string out;
  for (const auto& [m, n] : models)
    out += (out.empty() ? "" : ", ") + (models.size() > 1 ? std::to_string(n) + "x " : "") + m;
  return out.empty() ? "-" : out;
}

// "2/4 free [.#.#]": '.' a free GPU, '#' a busy one, in index order.
std::string GpuCell(const v1::NodeInfo& n) {
  int total = n.spec().gpus_size();
  if (total == 0) return "-";
  int free = 0;
  std::string map;
  for (int i = 0; i < total; ++i) {
    bool f = i < n.gpu_free_size() && n.gpu_free(i);
    free += f;
    map += f ? '.' : '#';
  }
  return std::to_string(free) + "/" + std::to_string(total) + " free [" + map + "]";
}

int RunNodes(const ClientFlags& f) {
  auto client = MakeClient(f);
  auto list = client.ListNodes();
  if (!list.ok()) return ReportError(list.status());
  WarnIfReadOnly(list->store_condition());
  if (f.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& n : list->nodes()) out.push_back(client::ToJson(n));
    std::cout << out.dump(2) << std::endl;
    return kExitOk;
  }
  if (list->nodes_size() == 0) {
    std::cout << "no nodes registered (start agents with `muster agent` or `muster up`)\n";
    return kExitOk;
  }
  int64_t now = list->now_ms() > 0 ? list->now_ms() : WallNowMs();
  client::TextTable t({"NAME", "STATE", "CPUS FREE", "MEM FREE", "GPUS", "GPU MODEL", "LOAD",
                       "TASKS", "HEARTBEAT"});
  for (const auto& n : list->nodes()) {
    char load[32];
    std::snprintf(load, sizeof load, "%.2f", n.load());
    t.AddRow(
        {n.spec().name(), n.state(), CpuCell(n.free_milli_cpus(), n.spec().milli_cpus()),
         client::FormatMiB(n.free_memory_mib()) + "/" + client::FormatMiB(n.spec().memory_mib()),
         GpuCell(n), GpuModelCell(n.spec()), load, std::to_string(n.running_tasks()),
         client::FormatRelative(n.last_heartbeat_ms(), now)});
  }
  std::cout << t.Render();
  // Nodes whose tasks could escape a stop (no cgroups) are named, with why.
  for (const auto& n : list->nodes())
    if (n.containment().rfind("process group only", 0) == 0)
      std::cout << "note: " << n.spec().name() << " contains its tasks by " << n.containment()
                << "\n";
  for (const auto& n : list->nodes())
    if (n.drained_ms() > 0)
      std::cout << "note: " << n.spec().name() << " drained by " << n.drained_by() << " "
                << client::FormatRelative(n.drained_ms(), now) << ": " << n.drain_reason()
                << "\n";
  for (const auto& n : list->nodes())
    if (!n.only_user().empty())
      std::cout << "note: " << n.spec().name() << " runs only " << n.only_user()
                << "'s tasks (its agent is not root)\n";
  return kExitOk;
}

// Busy seconds per node over the run (finished and running tasks), every known node included,
// followed by the balance metrics of those loads.
void PrintRunBalance(client::CoordinatorClient& client, const v1::ScheduleTable& table,
                     int64_t now) {
  std::map<std::string, double> busy_s;
  auto nodes = client.ListNodes();
  if (nodes.ok())
    for (const auto& n : nodes->nodes()) busy_s[n.spec().name()] = 0;
  for (const auto& r : table.rows()) {
    if (r.node().empty() || r.actual_start_ms() <= 0) continue;
    int64_t end = r.actual_finish_ms() > 0 ? r.actual_finish_ms() : now;
    busy_s[r.node()] += std::max<int64_t>(0, end - r.actual_start_ms()) / 1000.0;
  }
  if (busy_s.empty()) return;
  std::vector<double> loads;
  std::cout << "\nbusy time per node over the run:\n";
  for (const auto& [name, s] : busy_s) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "  %-12s %9.1f s\n", name.c_str(), s);
    std::cout << buf;
    loads.push_back(s);
  }
  model::BalanceReport b = model::Evaluate(loads);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "balance: Jain %.4f, CoV %.4f, imbalance factor %.4f, relative imbalance %.4f\n",
                b.jain, b.cov, b.imbalance_factor, b.relative_imbalance);
  std::cout << buf;
}

}  // namespace

int ShowClusterSchedule(const std::string& coordinator, const std::string& state_dir, bool json,
                        bool include_finished) {
  ClientFlags flags;
  flags.coordinator = coordinator;
  flags.state_dir = state_dir;
  client::CoordinatorClient client = MakeClient(flags);
  auto table = client.GetSchedule(include_finished);
  if (!table.ok()) return ReportError(table.status());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : table->rows()) out.push_back(client::ToJson(r));
    std::cout << out.dump(2) << std::endl;
    return kExitOk;
  }
  if (table->rows_size() == 0) {
    std::cout << (include_finished ? "the schedule is empty (no tasks yet)\n"
                                   : "the schedule is empty (no pending or running tasks)\n");
    return kExitOk;
  }
  int64_t now = table->now_ms() > 0 ? table->now_ms() : WallNowMs();
  // --all: beside the latest prediction (for a started task, the one made at its launch), the
  // one made when its job was submitted.
  std::vector<std::string> head = {"JOB", "NAME", "TASK", "NODE", "GPUS", "STATE"};
  if (include_finished) head.insert(head.end(), {"SUBMIT: START", "SUBMIT: FINISH"});
  head.insert(head.end(), {"PRED START", "PRED FINISH", "START", "FINISH"});
  client::TextTable t(head);
  for (const auto& r : table->rows()) {
    std::vector<std::string> row = {std::to_string(r.job_id()), r.job_name(),
                                    std::to_string(r.task_index()),
                                    r.node().empty() ? "-" : r.node(),
                                    client::FormatGpuList(r.gpus()), StateName(r.state())};
    if (include_finished)
      row.insert(row.end(), {client::FormatRelative(r.submit_predicted_start_ms(), now),
                             client::FormatRelative(r.submit_predicted_finish_ms(), now)});
    row.insert(row.end(), {client::FormatRelative(r.predicted_start_ms(), now),
                           client::FormatRelative(r.predicted_finish_ms(), now),
                           client::FormatRelative(r.actual_start_ms(), now),
                           client::FormatRelative(r.actual_finish_ms(), now)});
    t.AddRow(row);
  }
  std::cout << t.Render();
  if (include_finished)
    std::cout << "SUBMIT: predicted when the job was submitted; PRED: the latest prediction, or "
                 "for a task that started the one made at its launch\n";
  if (include_finished) PrintRunBalance(client, *table, now);
  return kExitOk;
}

int ShowPredictionAccuracy(const std::string& coordinator, const std::string& state_dir, bool json,
                           const std::string& since, const std::string& job_class) {
  const int64_t now = WallNowMs();
  auto since_ms = ParseSince(since, now);
  if (!since_ms)
    return ReportError(Status::InvalidArgument("--since is an age (7d, 12h) or a date"));
  ClientFlags flags;
  flags.coordinator = coordinator;
  flags.state_dir = state_dir;
  v1::ListJobsRequest req;
  req.add_states(v1::JOB_STATE_SUCCEEDED);  // a failed or cancelled run says little about run times
  req.set_since_ms(*since_ms);
  req.set_with_tasks(true);
  auto list = MakeClient(flags).ListJobs(req);
  if (!list.ok()) return ReportError(list.status());
  std::vector<model::PredictedRun> runs;
  for (const auto& j : list->jobs()) {
    const std::string cls = j.spec().job_class().empty() ? j.spec().name() : j.spec().job_class();
    if (!job_class.empty() && cls != job_class) continue;
    if (j.submit_prediction_made_ms() <= 0 || j.start_ms() <= 0 || j.end_ms() <= 0) continue;
    model::FinishedJob f{
        .job_class = cls,
        .together = model::RunsTogether(j.spec().gang(), j.spec().has_array(), j.spec().tasks()),
        .submit_ms = j.submit_ms(),
        .predicted_start_ms = j.submit_predicted_start_ms(),
        .predicted_finish_ms = j.submit_predicted_finish_ms(),
        .start_ms = j.start_ms(),
        .end_ms = j.end_ms(),
        .low_s = j.submit_predicted_low_s(),
        .high_s = j.submit_predicted_high_s()};
    for (const auto& t : j.tasks())
      if (t.start_ms() > 0 && t.end_ms() >= t.start_ms())
        f.longest_task_s = std::max(f.longest_task_s, (t.end_ms() - t.start_ms()) / 1000.0);
    runs.push_back(model::ToPredictedRun(f));
  }
  const std::vector<model::Accuracy> all = model::SummarizeAccuracy(runs);
  if (json) {
    nlohmann::json classes = nlohmann::json::array();
    for (const auto& a : all)
      classes.push_back({{"class", a.job_class.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.job_class)},
                         {"jobs", a.jobs},
                         {"runtime_rel_error", {{"median", a.runtime_rel_error.median},
                                                {"p90", a.runtime_rel_error.p90}}},
                         {"start_error_s", {{"median", a.start_error_s.median},
                                            {"p90", a.start_error_s.p90}}},
                         {"bias", a.bias},
                         {"interval90_jobs", a.interval_jobs},
                         {"interval90_coverage", a.interval_jobs > 0
                                                     ? nlohmann::json(a.interval_coverage)
                                                     : nlohmann::json(nullptr)}});
    std::cout << nlohmann::json{{"since_ms", *since_ms}, {"classes", classes}}.dump(2) << std::endl;
    return kExitOk;
  }
  if (runs.empty()) {
    std::cout << "no succeeded job with a prediction made at submit since " << since << "\n";
    return kExitOk;
  }
  auto pct = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.0f%%", 100 * v);
    return std::string(b);
  };
  auto signed_pct = [&](double v) {  // +12%, -3%, 0% (never "+0%" or "-0%")
    const double rounded = std::round(100 * v);
    return (rounded > 0 ? "+" : "") + pct(rounded == 0 ? 0.0 : rounded / 100);
  };
  auto secs = [](double s) {
    char b[32];
    std::snprintf(b, sizeof b, s < 10 ? "%.1fs" : "%.0fs", s);
    return std::string(b);
  };
  client::TextTable t({"CLASS", "JOBS", "RUN ERR MED", "RUN ERR P90", "BIAS", "START ERR MED",
                       "START ERR P90", "IN 90% INTERVAL"});
  for (const auto& a : all)
    t.AddRow({a.job_class.empty() ? "(all)" : a.job_class, std::to_string(a.jobs),
              pct(a.runtime_rel_error.median), pct(a.runtime_rel_error.p90),
              signed_pct(a.bias), secs(a.start_error_s.median),
              secs(a.start_error_s.p90),
              a.interval_jobs > 0 ? std::to_string(static_cast<int>(
                                        std::lround(a.interval_coverage * a.interval_jobs))) +
                                        "/" + std::to_string(a.interval_jobs) + " (" +
                                        pct(a.interval_coverage) + ")"
                                  : "-"});
  std::cout << t.Render()
            << "RUN ERR: |predicted - actual| / actual run time, as predicted at submit; BIAS > 0: "
               "predicted too long; START ERR: predicted start against actual\n";
  return kExitOk;
}

struct DrainFlags {
  ClientFlags client;
  std::string node, reason;
  bool migrate = false;
};

int RunDrain(const DrainFlags& f, bool undrain) {
  v1::DrainRequest req;
  req.set_node(f.node);
  req.set_reason(f.reason);
  req.set_migrate(f.migrate);
  req.set_undrain(undrain);
  auto reply = MakeClient(f.client).DrainNode(req);
  if (!reply.ok()) return ReportError(reply.status());
  if (f.client.json()) {
    nlohmann::json j = {{"node", reply->node()},
                        {"state", reply->state()},
                        {"running_tasks", reply->running_tasks()},
                        {"migrating_jobs", reply->migrating_jobs()}};
    std::cout << j.dump(2) << std::endl;
    return kExitOk;
  }
  std::cout << reply->node() << ": " << reply->state();
  if (reply->state() == "draining")
    std::cout << "; " << reply->running_tasks() << " task(s) still running there finish first";
  if (reply->migrating_jobs() > 0)
    std::cout << "; " << reply->migrating_jobs()
              << " checkpointable job(s) stopping to resume elsewhere";
  std::cout << std::endl;
  return kExitOk;
}

void AddNodesCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<ClientFlags>();
  CLI::App* cmd = app.add_subcommand("nodes", "List the cluster's nodes: resources, GPUs, load");
  AddClientFlags(*cmd, *f);
  cmd->callback([f, &ctx] { ctx.exit_code = RunNodes(*f); });

  auto d = std::make_shared<DrainFlags>();
  CLI::App* drain = app.add_subcommand(
      "drain", "Take a node out of service: nothing new starts there (admins)");
  drain->add_option("node", d->node, "node name")->required();
  drain->add_option("--reason", d->reason, "why, shown in muster nodes")->required();
  drain->add_flag("--migrate", d->migrate,
                  "stop its checkpointable jobs now to resume elsewhere (others finish there)");
  AddClientFlags(*drain, d->client);
  drain->footer("Running tasks finish (or move, with --migrate); `muster nodes` shows the node\n"
                "draining, then drained. The drain survives restarts; `muster undrain NODE` ends "
                "it.");
  drain->callback([d, &ctx] { ctx.exit_code = RunDrain(*d, /*undrain=*/false); });

  auto u = std::make_shared<DrainFlags>();
  CLI::App* undrain =
      app.add_subcommand("undrain", "Put a drained node back in service (admins)");
  undrain->add_option("node", u->node, "node name")->required();
  AddClientFlags(*undrain, u->client);
  undrain->callback([u, &ctx] { ctx.exit_code = RunDrain(*u, /*undrain=*/true); });
}

}  // namespace muster::cli
