// muster acct: what jobs used, per job or (--summary) per user, from the coordinator's accounting
// rows (one per attempt, kept after the job itself is removed) and its running attempts.
//
// Per job, over all of its attempts (a retried, requeued or migrated attempt used its resources
// too):
//   wait      first start - submit;  elapsed  last end (or now) - first start
//   gpus      the GPUs of the latest attempt of each task, summed
//   gpu_hours each attempt's GPUs x its run time;  cpu_hours  its CPUs (as asked) x its run time
//   cpu_time  CPU time its cgroups measured;  peak_rss  the largest peak memory of an attempt
//   gpu_util  mean utilization of its GPUs, weighted by GPU time
//   energy    its GPUs' power x time from the heartbeats; "-" (null in JSON) where no GPU of it
//             reported power, and energy_complete false when only some did
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "core/job.h"
#include "cluster/client/accounting.h"
#include "sim/workload.h"

namespace muster::cli {
namespace {

using client::JobUsage;
using client::AggregateAccounting;
using client::ToJson;

struct AcctFlags {
  ClientFlags client;
  std::string user;
  bool me = false;
  std::string since = "7d";
  int64_t job = 0;
  std::vector<std::string> states;
  std::string output = "table";
  bool summary = false;
};

std::string Hours(double h) {
  char buf[32];
  std::snprintf(buf, sizeof buf, h < 10 ? "%.3f" : "%.1f", h);
  return buf;
}

// "0.42s" under 10 s, "3m", "1h20m" above; "-" when not known.
std::string Seconds(double s) {
  if (s < 0) return "-";
  if (s >= 10) return client::FormatDurationShort(static_cast<int64_t>(s * 1000));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", s);
  return buf;
}

std::string EnergyCell(const JobUsage& j) {
  if (!j.energy_seen) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f Wh%s", j.energy_wh, j.energy_missing ? "+" : "");
  return buf;
}

std::string CsvField(const nlohmann::ordered_json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    std::string s = v.get<std::string>(), out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  }
  return v.dump();
}

void PrintCsv(const std::vector<nlohmann::ordered_json>& rows) {
  if (rows.empty()) return;
  std::string header;
  for (const auto& [k, v] : rows[0].items()) header += (header.empty() ? "" : ",") + k;
  std::cout << header << "\n";
  for (const auto& r : rows) {
    std::string line;
    bool first = true;
    for (const auto& [k, v] : r.items()) {
      line += (first ? "" : ",") + CsvField(v);
      first = false;
    }
    std::cout << line << "\n";
  }
}

int RunAcct(const AcctFlags& f) {
  if (f.me && !f.user.empty()) return ReportError(Status::InvalidArgument("give --me or --user, not both"));
  if (f.job < 0) return ReportError(Status::InvalidArgument("--job must be a job id"));
  for (const std::string& s : f.states)
    if (!ParseJobState(s))
      return ReportError(Status::InvalidArgument(
          "--state: '" + s +
          "' is not a job state (pending, running, succeeded, failed, cancelled, timeout, oom)"));
  v1::AccountingRequest req;
  req.set_user(f.me ? "@me" : f.user);
  req.set_job_id(f.job);
  if (!f.since.empty() && f.since != "0") {
    auto since = ParseSince(f.since, WallNowMs());
    if (!since)
      return ReportError(Status::InvalidArgument(
          "--since '" + f.since +
          "' is neither an age (90m, 12h, 7d) nor a UTC date (YYYY-MM-DD[ HH:MM:SS])"));
    req.set_since_ms(*since);
  }
  auto reply = MakeClient(f.client).Accounting(req);
  if (!reply.ok()) return ReportError(reply.status());
  const int64_t now = reply->now_ms();
  std::vector<JobUsage> jobs;
  for (JobUsage& j : AggregateAccounting(*reply))
    if (f.states.empty() || std::find(f.states.begin(), f.states.end(), j.state) != f.states.end())
      jobs.push_back(std::move(j));

  std::vector<nlohmann::ordered_json> rows;
  if (f.summary) {
    struct UserTotal {
      int jobs = 0;
      double gpu_hours = 0, cpu_hours = 0, energy_wh = 0, elapsed_s = 0;
      bool energy_seen = false, energy_missing = false;
    };
    std::map<std::string, UserTotal> users;
    for (const JobUsage& j : jobs) {
      UserTotal& u = users[j.user];
      ++u.jobs;
      u.gpu_hours += j.gpu_hours;
      u.cpu_hours += j.cpu_hours;
      u.elapsed_s += j.ElapsedS(now);
      u.energy_wh += j.energy_wh;
      u.energy_seen = u.energy_seen || j.energy_seen;
      u.energy_missing = u.energy_missing || j.energy_missing || (!j.energy_seen && j.gpus > 0);
    }
    for (const auto& [name, u] : users)
      rows.push_back({{"user", name},
                      {"jobs", u.jobs},
                      {"elapsed_s", u.elapsed_s},
                      {"gpu_hours", u.gpu_hours},
                      {"cpu_hours", u.cpu_hours},
                      {"energy_wh", client::KnownOrNull(u.energy_wh, u.energy_seen)},
                      {"energy_complete", u.energy_seen && !u.energy_missing}});
    if (f.output == "table") {
      client::TextTable t({"USER", "JOBS", "ELAPSED", "GPU-H", "CPU-H", "ENERGY"});
      for (const auto& [name, u] : users) {
        char energy[32] = "-";
        if (u.energy_seen)
          std::snprintf(energy, sizeof energy, "%.2f Wh%s", u.energy_wh,
                        u.energy_missing ? "+" : "");
        t.AddRow({name, std::to_string(u.jobs), Seconds(u.elapsed_s), Hours(u.gpu_hours),
                  Hours(u.cpu_hours), energy});
      }
      std::cout << t.Render();
    }
  } else {
    for (const JobUsage& j : jobs) rows.push_back(ToJson(j, now));
    if (f.output == "table") {
      client::TextTable t({"JOB", "USER", "NAME", "STATE", "EXIT", "SUBMITTED (UTC)", "WAIT",
                           "ELAPSED", "GPUS", "GPU-H", "CPU-H", "CPU TIME", "PEAK MEM", "GPU UTIL",
                           "ENERGY"});
      for (const JobUsage& j : jobs) {
        char util[16] = "-";
        if (j.GpuUtil() >= 0) std::snprintf(util, sizeof util, "%.0f%%", 100 * j.GpuUtil());
        t.AddRow({std::to_string(j.job), j.user, j.name, j.state, std::to_string(j.exit_code),
                  sim::FormatUtc(j.submit_ms), Seconds(j.WaitS()), Seconds(j.ElapsedS(now)),
                  std::to_string(j.gpus), Hours(j.gpu_hours), Hours(j.cpu_hours),
                  Seconds(j.cpu_time_s), j.peak_mib > 0 ? client::FormatMiB(j.peak_mib) : "-",
                  util, EnergyCell(j)});
      }
      std::cout << t.Render();
    }
  }
  if (f.output == "json") {
    std::cout << nlohmann::ordered_json(rows).dump(2) << std::endl;
  } else if (f.output == "csv") {
    PrintCsv(rows);
  } else if (rows.empty()) {
    std::cout << "(no jobs" << (f.since.empty() || f.since == "0" ? "" : " since " + f.since)
              << ")\n";
  } else {
    std::cout << "GPU-H and CPU-H: what the attempts held, times how long they ran; energy: "
                 "\"-\" not measured, \"+\" measured for some GPUs only\n";
  }
  return kExitOk;
}

}  // namespace

void AddAcctCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<AcctFlags>();
  CLI::App* cmd = app.add_subcommand(
      "acct", "Accounting: what jobs used (GPU-hours, CPU-hours, peak memory, GPU energy)");
  cmd->add_option("--user", f->user, "only this user's jobs");
  cmd->add_flag("--me", f->me, "only your own jobs");
  cmd->add_option("--since", f->since,
                  "attempts that ended within this long (90m, 12h, 7d) or since a UTC date "
                  "(YYYY-MM-DD[ HH:MM:SS]); 0 = all; running ones always")
      ->capture_default_str();
  cmd->add_option("--job", f->job, "only this job");
  cmd->add_option("--state", f->states, "only jobs now in these states (repeatable, or a,b)")
      ->delimiter(',');
  cmd->add_flag("--summary", f->summary, "totals per user instead of one line per job");
  AddClientFlags(*cmd, f->client, /*with_output=*/false);
  cmd->add_option("-o,--output", f->output, "output format: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  cmd->callback([f, &ctx] { ctx.exit_code = RunAcct(*f); });
}

}  // namespace muster::cli
