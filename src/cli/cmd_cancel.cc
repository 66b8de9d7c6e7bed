// `muster cancel JOB...`: cancels each job and reports each id on its own line. Unknown ids are
// reported (exit 4) but do not stop the others from being cancelled; a malformed id is a usage
// error (exit 2) and nothing is sent. A job the caller may not cancel is refused (exit 6).
// `muster cancel --user U / --me / --name N / --state S`: every unfinished job that matches.
#include <iostream>
#include <tuple>
#include <nlohmann/json.hpp>

#include "cli/cmd_client.h"

namespace muster::cli {

namespace {

bool LooksNotFound(const std::string& error) {
  return error.find("not found") != std::string::npos ||
         error.find("unknown") != std::string::npos || error.find("no job") != std::string::npos ||
         error.find("has no task") != std::string::npos;
}

int RunCancel(const ClientFlags& f, const std::vector<std::string>& ids_text,
              const JobFilter& filter) {
  if (ids_text.empty() == filter.empty())
    return ReportError(Status::InvalidArgument(
        ids_text.empty() ? "say which jobs: ids, or --user, --me, --name, --state"
                         : "give job ids or filters, not both"));
  std::vector<int64_t> ids;
  v1::CancelRequest tasks;  // JOB.TASK: one task of an array
  for (const auto& t : ids_text) {
    if (const size_t dot = t.find('.'); dot != std::string::npos) {
      auto job = ParseJobId(t.substr(0, dot));
      auto task = ParseJobId(t.substr(dot + 1));
      if (!job || !task || *task > INT32_MAX)
        return ReportError(Status::InvalidArgument("'" + t + "' is not JOB or JOB.TASK"));
      auto* ct = tasks.add_tasks();
      ct->set_job_id(*job);
      ct->set_task_index(static_cast<int32_t>(*task));
      continue;
    }
    auto id = ParseJobId(t);
    if (!id) return ReportError(Status::InvalidArgument("'" + t + "' is not JOB or JOB.TASK"));
    ids.push_back(*id);
  }
  auto client = MakeClient(f);
  if (!filter.empty()) {
    v1::ListJobsRequest req;
    if (Status s = FillFilter(filter, req); !s.ok()) return ReportError(s);
    req.set_include_finished(false);
    auto list = client.ListJobs(req);
    if (!list.ok()) return ReportError(list.status());
    for (const auto& j : list->jobs())
      if (j.state() == v1::JOB_STATE_PENDING || j.state() == v1::JOB_STATE_RUNNING)
        ids.push_back(j.job_id());
    if (ids.empty()) {
      if (f.json())
        std::cout << "[]" << std::endl;
      else
        std::cout << "no unfinished job matches" << std::endl;
      return kExitOk;
    }
  }
  v1::CancelRequest req = tasks;
  for (int64_t id : ids) req.add_job_ids(id);
  auto reply = client.Cancel(req);
  if (!reply.ok()) return ReportError(reply.status());
  int code = kExitOk;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : reply->results()) {
    const std::string what = r.is_task() ? "task " + std::to_string(r.job_id()) + "." +
                                               std::to_string(r.task_index())
                                         : "job " + std::to_string(r.job_id());
    if (f.json()) {
      nlohmann::json j = {{"job_id", r.job_id()}, {"ok", r.ok()}, {"error", r.error()}};
      if (r.is_task()) j["task_index"] = r.task_index();
      out.push_back(j);
    } else if (r.ok()) {
      std::cout << "cancelled " << what << std::endl;
    } else {
      std::string id = what;
      std::cerr << "muster: " << (r.error().find(id) == std::string::npos ? id + ": " : "")
                << r.error() << std::endl;
    }
    if (!r.ok()) {
      int c = r.error().rfind("permission denied", 0) == 0 ? kExitPermissionDenied
              : LooksNotFound(r.error())                   ? kExitNotFound
                                                           : kExitFailed;
      code = std::max(code, c);
    }
  }
  if (f.json()) std::cout << out.dump(2) << std::endl;
  return code;
}

enum class HoldOp { kHold, kRelease, kRequeue };

int RunHold(const ClientFlags& f, const std::vector<std::string>& ids_text, HoldOp op) {
  v1::HoldRequest req;
  req.set_release(op == HoldOp::kRelease);
  req.set_requeue(op == HoldOp::kRequeue);
  for (const auto& t : ids_text) {
    auto id = ParseJobId(t);
    if (!id) return ReportError(Status::InvalidArgument("'" + t + "' is not a job id"));
    req.add_job_ids(*id);
  }
  auto reply = MakeClient(f).HoldJobs(req);
  if (!reply.ok()) return ReportError(reply.status());
  int code = kExitOk;
  for (const auto& r : reply->results()) {
    if (r.ok()) {
      std::cout << (op == HoldOp::kRelease   ? "released job "
                    : op == HoldOp::kRequeue ? "requeued job "
                                             : "held job ")
                << r.job_id() << std::endl;
      continue;
    }
    std::cerr << "muster: " << r.error() << std::endl;
    const int c = r.error().rfind("permission denied", 0) == 0 ? kExitPermissionDenied
                  : LooksNotFound(r.error())                   ? kExitNotFound
                                                               : kExitFailed;
    code = std::max(code, c);
  }
  return code;
}

}  // namespace

void AddCancelCommand(CLI::App& app, CommandContext& ctx) {
  struct CancelFlags {
    ClientFlags client;
    std::vector<std::string> ids;
    JobFilter filter;
  };
  auto c = std::make_shared<CancelFlags>();
  CLI::App* cmd = app.add_subcommand("cancel", "Cancel jobs (their running tasks are killed)");
  cmd->add_option("jobs", c->ids, "job ids, or JOB.TASK for one task of an array");
  AddFilterFlags(*cmd, c->filter);
  AddClientFlags(*cmd, c->client);
  cmd->footer("Examples:\n  muster cancel 12 13\n  muster cancel 12.7       (task 7 of array 12)\n"
              "  muster cancel --me --name sweep\n"
              "  muster cancel --user bob --state pending");
  cmd->callback([c, &ctx] { ctx.exit_code = RunCancel(c->client, c->ids, c->filter); });

  const std::tuple<HoldOp, const char*, const char*> ops[] = {
      {HoldOp::kHold, "hold",
       "Hold jobs: none of their tasks starts until `muster release` (running ones go on)"},
      {HoldOp::kRelease, "release", "Let held jobs start again"},
      {HoldOp::kRequeue, "requeue",
       "Stop a running job's tasks and queue them again, as new attempts (no retry used)"}};
  for (const auto& [op, name, help] : ops) {
    auto h = std::make_shared<CancelFlags>();
    CLI::App* sub = app.add_subcommand(name, help);
    sub->add_option("jobs", h->ids, "job ids")->required();
    AddClientFlags(*sub, h->client, /*with_output=*/false);
    sub->callback([h, op = op, &ctx] { ctx.exit_code = RunHold(h->client, h->ids, op); });
  }
}

}  // namespace muster::cli
