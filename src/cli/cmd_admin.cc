// `muster admin ...`: site administration. `admin user ...` (cmd_users.cc) and `admin audit` go
// through the coordinator; export-history works on the coordinator's files directly.
//
//   init [--state-dir DIR] [--tls-san NAME]...
//     Prepares a standalone coordinator's state dir (0700) with the cluster CA and the
//     coordinator's certificate, and prints the CA's fingerprint; kept when they exist.
//
//   backup FILE
//     A consistent copy of the running coordinator's store and TLS files (cluster/store/backup.h),
//     streamed by the coordinator (admins only) and written to FILE (0600) atomically.
//
//   restore FILE --state-dir DIR
//     Makes DIR from a backup, offline, with one more epoch: ids and attempts are never reused.
//
//   gc [--older-than AGE] [--dry-run] [-o json]
//     Removes finished jobs that ended at least AGE ago (default: the coordinator's --retention,
//     which also runs by itself every hour): records, logs, checkpoints. Jobs that unfinished
//     jobs name in --after are kept. Ids are never reused.
//
//   audit [--since WHEN] [--user NAME] [--limit N] [-o json]
//     The audit log, oldest first: every submit, cancel, user change, node registration and
//     balancer move, and every refused call, with time, identity, role, how it was identified,
//     peer, action, target and result.
//
//   export-history --state-dir DIR [--out FILE] [--since WHEN]
//     Writes the finished jobs of the state store as a muster CSV trace for
//     `muster sim --trace FILE --format csv` (see cluster/coordinator/history_export.h). DIR is the
//     coordinator's state dir or a `muster up` state dir (with coordinator/ inside). The store is
//     opened read-only, so this is safe while the coordinator runs. WHEN is a UTC date
//     "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", or an age such as "90m", "12h", "7d" (before now).
//     A summary of what was exported and skipped goes to stderr.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>

#include "cli/cmd_client.h"
#include "cli/commands.h"
#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"
#include "cluster/store/backup.h"
#include "cluster/client/display.h"
#include "cluster/coordinator/history_export.h"
#include "core/resources.h"
#include "core/status.h"
#include "sim/workload.h"  // FormatUtc

namespace muster::cli {

namespace {

struct ExportFlags {
  std::string state_dir;
  std::string out;
  std::string since;
};

int RunExportHistory(const ExportFlags& f) {
  auto fail = [](const std::string& msg, int code) {
    std::cerr << "muster: " << msg << "\n";
    return code;
  };
  cluster::HistoryExportOptions opts;
  if (!f.since.empty()) {
    const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    auto since = ParseSince(f.since, now);
    if (!since)
      return fail("--since '" + f.since +
                      "' is neither a UTC date (YYYY-MM-DD[ HH:MM:SS]) nor an age (90m, 12h, 7d)",
                  kExitUsage);
    opts.since_ms = *since;
  }
  const std::string dir = f.state_dir.empty() ? cluster::DefaultStateDir() : f.state_dir;
  auto path = cluster::FindStoreFile(dir);
  if (!path.ok()) return fail(path.status().message(), kExitNotFound);
  auto history = cluster::ReadJobHistory(*path, opts);
  if (!history.ok())
    return fail(history.status().message(),
                history.status().code() == StatusCode::kNotFound ? kExitNotFound : kExitFailed);

  std::ofstream file;
  if (!f.out.empty()) {
    file.open(f.out);
    if (!file) return fail("cannot write " + f.out, kExitUsage);
  }
  std::ostream& out = f.out.empty() ? std::cout : file;
  cluster::WriteHistoryCsv(history->rows, out);
  out.flush();
  if (!out)
    return fail("writing " + (f.out.empty() ? std::string("stdout") : f.out) + " failed",
                kExitFailed);
  const auto& h = *history;
  std::cerr << "exported " << h.rows.size() << " finished jobs from " << *path
            << (f.out.empty() ? "" : " to " + f.out) << "; skipped " << h.skipped_cancelled
            << " cancelled, " << h.skipped_unfinished << " pending or running, "
            << h.skipped_never_started << " never started, " << h.skipped_no_gpus
            << " without GPUs, " << h.skipped_before_since << " before --since\n";
  return kExitOk;
}

struct AuditFlags {
  ClientFlags client;
  std::string since;
  std::string user;
  int limit = 200;
};

int RunAudit(const AuditFlags& f) {
  v1::AuditRequest req;
  if (!f.since.empty()) {
    auto since = ParseSince(f.since, WallNowMs());
    if (!since)
      return ReportError(Status::InvalidArgument(
          "--since '" + f.since +
          "' is neither a UTC date (YYYY-MM-DD[ HH:MM:SS]) nor an age (90m, 12h, 7d)"));
    req.set_since_ms(*since);
  }
  if (f.limit < 0) return ReportError(Status::InvalidArgument("--limit must not be negative"));
  req.set_identity(f.user);
  req.set_limit(f.limit);
  auto list = MakeClient(f.client).ListAudit(req);
  if (!list.ok()) return ReportError(list.status());
  if (f.client.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : list->entries())
      out.push_back({{"time_ms", e.time_ms()},
                     {"identity", e.identity()},
                     {"role", e.role()},
                     {"via", e.via()},
                     {"peer", e.peer()},
                     {"action", e.action()},
                     {"target", e.target()},
                     {"result", e.result()}});
    std::cout << out.dump(2) << std::endl;
    return kExitOk;
  }
  client::TextTable t({"TIME (UTC)", "WHO", "ROLE", "VIA", "ACTION", "TARGET", "RESULT"});
  for (const auto& e : list->entries()) {
    t.AddRow({sim::FormatUtc(e.time_ms()), e.identity(), e.role(),
              e.via() + (e.peer().empty() ? "" : " " + e.peer()), e.action(), e.target(),
              e.result()});
  }
  std::cout << t.Render();
  return kExitOk;
}

struct LimitFlags {
  ClientFlags client;
  std::string user, group;
  int max_gpus = -1;       // -1: not given (kept as it is)
  std::string max_cpus;    // "" not given; "8", "0.5"
  int max_jobs = -1;
  bool clear = false;
};

std::string LimitCpus(int64_t milli) {
  if (milli == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(milli) / 1000.0);
  return buf;
}

int RunLimit(const LimitFlags& f) {
  if (!f.user.empty() && !f.group.empty())
    return ReportError(Status::InvalidArgument("give --user or --group, not both"));
  const bool list = f.user.empty() && f.group.empty();
  const bool given = f.max_gpus >= 0 || !f.max_cpus.empty() || f.max_jobs >= 0;
  if (list && (given || f.clear))
    return ReportError(Status::InvalidArgument("say whose limit: --user NAME or --group NAME"));
  if (f.clear && given)
    return ReportError(Status::InvalidArgument("--clear removes the whole limit; give no values"));
  if (!list && !f.clear && !given)
    return ReportError(Status::InvalidArgument(
        "give --max-gpus, --max-cpus or --max-jobs (0 = no limit of that kind), or --clear"));
  auto client = MakeClient(f.client);
  v1::LimitRequest req;
  if (!list) {
    v1::LimitSpec& l = *req.mutable_limit();
    l.set_kind(f.user.empty() ? "group" : "user");
    l.set_name(f.user.empty() ? f.group : f.user);
    req.set_clear(f.clear);
    if (!f.clear) {
      // Values not given keep what the limit has now.
      auto now = client.ManageLimits({});
      if (!now.ok()) return ReportError(now.status());
      for (const auto& old : now->limits())
        if (old.kind() == l.kind() && old.name() == l.name()) l = old;
      if (f.max_gpus >= 0) l.set_max_gpus(f.max_gpus);
      if (f.max_jobs >= 0) l.set_max_jobs(f.max_jobs);
      if (!f.max_cpus.empty()) {
        const MilliCpu m = ParseMilliCpus(f.max_cpus);
        if (m < 0 && f.max_cpus != "0")
          return ReportError(Status::InvalidArgument("--max-cpus: expected a number of CPUs like "
                                                     "8 or 0.5, got '" + f.max_cpus + "'"));
        l.set_max_milli_cpus(std::max<MilliCpu>(0, m));
      }
    }
  }
  auto reply = client.ManageLimits(req);
  if (!reply.ok()) return ReportError(reply.status());
  if (f.client.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : reply->limits())
      out.push_back({{"kind", l.kind()},
                     {"name", l.name()},
                     {"max_gpus", l.max_gpus()},
                     {"max_cpus", static_cast<double>(l.max_milli_cpus()) / 1000.0},
                     {"max_jobs", l.max_jobs()},
                     {"set_by", l.set_by()},
                     {"set_ms", l.set_ms()}});
    std::cout << out.dump(2) << std::endl;
    return kExitOk;
  }
  if (!list)
    std::cout << (f.clear ? "removed the limit of " : "set the limit of ")
              << (f.user.empty() ? "group " + f.group : "user " + f.user) << "\n";
  if (reply->limits().empty()) {
    std::cout << "no limits (muster admin limit --user NAME --max-gpus N sets one)\n";
    return kExitOk;
  }
  client::TextTable t({"KIND", "NAME", "MAX GPUS", "MAX CPUS", "MAX JOBS", "SET BY", "SET (UTC)"});
  for (const auto& l : reply->limits())
    t.AddRow({l.kind(), l.name(), l.max_gpus() ? std::to_string(l.max_gpus()) : "-",
              LimitCpus(l.max_milli_cpus()), l.max_jobs() ? std::to_string(l.max_jobs()) : "-",
              l.set_by(), sim::FormatUtc(l.set_ms())});
  std::cout << t.Render();
  return kExitOk;
}

struct InitFlags {
  std::string state_dir;
  std::vector<std::string> tls_sans;
};

// A standalone coordinator's state dir before its first start: private, with the cluster CA and
// the coordinator's certificate, so the CA can be backed up and its fingerprint handed out first.
int RunInit(const InitFlags& f) {
  const std::string dir = f.state_dir.empty() ? cluster::DefaultStateDir() : f.state_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ReportError(Status::Unavailable("cannot create " + dir + ": " + ec.message()));
  if (std::string why; !cluster::RestrictStateDir(dir, false, &why)) std::cerr << why << "\n";
  const bool existed = std::filesystem::exists(dir + "/tls/ca.crt");
  auto tls = cluster::EnsureServerTls(dir, f.tls_sans);
  if (!tls.ok()) return ReportError(tls.status());
  std::cout << (existed ? "state dir " + dir + " already has a cluster CA (kept"
                        : "initialised " + dir + " (new cluster CA")
            << ", valid until "
            << sim::FormatUtc(cluster::ReadCert(tls->ca.cert_pem).value().not_after_ms)
            << " UTC)\n  CA certificate  " << dir << "/tls/ca.crt (give it to clients)\n"
            << "  CA key          " << dir << "/tls/ca.key (private; back it up)\n"
            << "  CA sha256       " << tls->ca_fingerprint << "\n"
            << "start it with: muster coordinator --state-dir " << dir << " --listen HOST:PORT"
            << std::endl;
  return kExitOk;
}

struct BackupFlags {
  ClientFlags client;
  std::string file;
};

// The coordinator's consistent copy, streamed into FILE (0600, atomically).
int RunBackup(const BackupFlags& f) {
  const std::string tmp = f.file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return ReportError(Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno)));
  ::close(fd);
  Result<v1::BackupChunk> head = Status::Internal("no backup");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    head = MakeClient(f.client).Backup(out);
    out.flush();
    if (head.ok() && !out) head = Status::Unavailable("cannot write " + tmp);
  }
  std::error_code ec;
  if (head.ok()) {
    int sync_fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    const bool synced = sync_fd >= 0 && ::fsync(sync_fd) == 0;
    if (sync_fd >= 0) ::close(sync_fd);
    if (!synced || ::rename(tmp.c_str(), f.file.c_str()) != 0)
      head = Status::Unavailable("cannot write " + f.file + ": " + std::strerror(errno));
  }
  if (!head.ok()) {
    std::filesystem::remove(tmp, ec);
    return ReportError(head.status());
  }
  std::cout << "backed up " << head->jobs() << " jobs and " << head->files_size()
            << " TLS files (the cluster CA) at " << sim::FormatUtc(head->time_ms()) << " UTC to "
            << f.file
            << " (" << (std::filesystem::file_size(f.file, ec) + 1023) / 1024
            << " KiB); it holds the CA key: keep it private" << std::endl;
  return kExitOk;
}

struct GcFlags {
  ClientFlags client;
  std::string older_than;
  bool dry_run = false;
};

int RunGc(const GcFlags& f) {
  v1::GcRequest req;
  if (!f.older_than.empty()) {
    const int64_t ms = ParseDurationMs(f.older_than);
    if (ms <= 0)
      return ReportError(Status::InvalidArgument("--older-than: a duration like 7d, 12h or 30m"));
    req.set_older_than_ms(ms);
  }
  req.set_dry_run(f.dry_run);
  auto reply = MakeClient(f.client).CollectGarbage(req);
  if (!reply.ok()) return ReportError(reply.status());
  if (f.client.json()) {
    std::cout << nlohmann::json{{"before_ms", reply->before_ms()},
                                {"jobs", reply->jobs()},
                                {"tasks", reply->tasks()},
                                {"bytes", reply->bytes()},
                                {"kept_for_dependents", reply->kept_for_dependents()},
                                {"dry_run", f.dry_run}}
                     .dump(2)
              << std::endl;
    return kExitOk;
  }
  std::cout << (f.dry_run ? "would remove " : "removed ") << reply->jobs() << " finished jobs ("
            << reply->tasks() << " tasks, " << (reply->bytes() + 1023) / 1024
            << " KiB of logs and checkpoints) that ended before "
            << sim::FormatUtc(reply->before_ms()) << " UTC";
  if (reply->kept_for_dependents() > 0)
    std::cout << "; kept " << reply->kept_for_dependents()
              << " that unfinished jobs depend on (--after)";
  std::cout << std::endl;
  return kExitOk;
}

struct RestoreFlags {
  std::string file;
  std::string state_dir;
};

int RunRestore(const RestoreFlags& f) {
  auto restored = cluster::RestoreBackup(f.file, f.state_dir);
  if (!restored.ok()) return ReportError(restored.status());
  std::cout << "restored " << restored->backup.jobs << " jobs and the cluster CA from the backup of "
            << sim::FormatUtc(restored->backup.time_ms) << " UTC into " << f.state_dir << "\nepoch "
            << restored->epoch << ": new job ids start at " << restored->next_job_id
            << ", and tasks its agents run from after the backup are stopped and run again\n"
            << "start it with: muster coordinator --state-dir " << f.state_dir << std::endl;
  return kExitOk;
}

}  // namespace

void AddAdminCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* admin = app.add_subcommand(
      "admin", "Site administration: users, nodes, state dir, backup, retention, audit");
  admin->require_subcommand(1);
  AddUserCommands(*admin, ctx);

  auto in = std::make_shared<InitFlags>();
  CLI::App* init = admin->add_subcommand(
      "init", "Prepare a coordinator's state dir: private, with a new cluster CA and certificate");
  init->add_option("--state-dir", in->state_dir,
                   "State directory (default $MUSTER_STATE_DIR or ~/.local/state/muster)");
  init->add_option("--tls-san", in->tls_sans,
                   "Extra name of the coordinator's certificate, e.g. IP:10.0.0.5 or "
                   "DNS:coord.example");
  init->callback([in, &ctx] { ctx.exit_code = RunInit(*in); });

  auto bk = std::make_shared<BackupFlags>();
  CLI::App* backup = admin->add_subcommand(
      "backup", "Write a consistent copy of the running coordinator's state and CA (admins only)");
  backup->add_option("file", bk->file, "where to write it (0600; replaced atomically)")->required();
  AddClientFlags(*backup, bk->client, /*with_output=*/false);
  backup->callback([bk, &ctx] { ctx.exit_code = RunBackup(*bk); });

  auto gc = std::make_shared<GcFlags>();
  CLI::App* gcc = admin->add_subcommand(
      "gc", "Remove finished jobs, their logs and checkpoints now (admins only)");
  gcc->add_option("--older-than", gc->older_than,
                  "jobs that ended at least this long ago (default: the coordinator's "
                  "--retention)");
  gcc->add_flag("--dry-run", gc->dry_run, "only count what would be removed");
  AddClientFlags(*gcc, gc->client);
  gcc->callback([gc, &ctx] { ctx.exit_code = RunGc(*gc); });

  auto lim = std::make_shared<LimitFlags>();
  CLI::App* limc = admin->add_subcommand(
      "limit",
      "Limit what a user's or a group's running tasks hold at once (admins); without --user or "
      "--group, list the limits");
  limc->add_option("--user", lim->user, "the user whose limit to set");
  limc->add_option("--group", lim->group, "the Unix group (all of its members together)");
  limc->add_option("--max-gpus", lim->max_gpus, "GPUs in use at once (0 = no limit)");
  limc->add_option("--max-cpus", lim->max_cpus, "CPUs in use at once, e.g. 16 or 0.5 (0 = none)");
  limc->add_option("--max-jobs", lim->max_jobs, "jobs running at once (0 = no limit)");
  limc->add_flag("--clear", lim->clear, "remove the limit");
  AddClientFlags(*limc, lim->client);
  limc->callback([lim, &ctx] { ctx.exit_code = RunLimit(*lim); });

  auto rs = std::make_shared<RestoreFlags>();
  CLI::App* restore = admin->add_subcommand(
      "restore", "Make a coordinator's state dir from a backup (offline; a new epoch)");
  restore->add_option("file", rs->file, "a file from muster admin backup")->required();
  restore->add_option("--state-dir", rs->state_dir,
                      "the coordinator state dir to create (`muster up --state-dir D` keeps it "
                      "in D/coordinator); it must not hold a state yet")
      ->required();
  restore->callback([rs, &ctx] { ctx.exit_code = RunRestore(*rs); });

  auto f = std::make_shared<ExportFlags>();
  CLI::App* exp = admin->add_subcommand(
      "export-history", "Write finished jobs as a CSV trace for `muster sim --format csv`");
  exp->add_option("--state-dir", f->state_dir,
                  "Coordinator or `muster up` state directory (default $MUSTER_STATE_DIR, else "
                  "~/.local/state/muster)");
  exp->add_option("--out", f->out, "Output file (default stdout)");
  exp->add_option("--since", f->since,
                  "Only jobs submitted since a UTC date (YYYY-MM-DD[ HH:MM:SS]) or an age (7d)");
  exp->callback([f, &ctx] { ctx.exit_code = RunExportHistory(*f); });

  auto a = std::make_shared<AuditFlags>();
  CLI::App* audit = admin->add_subcommand(
      "audit", "The audit log: every mutating call and every refused call (admins only)");
  audit->add_option("--since", a->since,
                    "Only entries since a UTC date (YYYY-MM-DD[ HH:MM:SS]) or an age (1h, 7d)");
  audit->add_option("--user", a->user, "Only this identity's entries");
  audit->add_option("--limit", a->limit, "The newest N entries (0: all)")->capture_default_str();
  AddClientFlags(*audit, a->client);
  audit->callback([a, &ctx] { ctx.exit_code = RunAudit(*a); });
}

}  // namespace muster::cli
