// `muster admin ...`: site administration. `admin user ...` goes through the coordinator
// (cmd_users.cc); export-history works on the coordinator's files directly, without the API.
//
//   export-history --state-dir DIR [--out FILE] [--since WHEN]
//     Writes the finished jobs of the state store as a muster CSV trace for
//     `muster sim --trace FILE --format csv` (see cluster/coordinator/history_export.h). DIR is the
//     coordinator's state dir or a `muster up` state dir (with coordinator/ inside). The store is
//     opened read-only, so this is safe while the coordinator runs. WHEN is a UTC date
//     "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS", or an age such as "90m", "12h", "7d" (before now).
//     A summary of what was exported and skipped goes to stderr.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/cmd_client.h"
#include "cli/commands.h"
#include "cluster/common/credentials.h"
#include "cluster/coordinator/history_export.h"
#include "core/status.h"

namespace muster::cli {

namespace {

struct ExportFlags {
  std::string state_dir;
  std::string out;
  std::string since;
};

// WHEN as milliseconds since the epoch; nullopt when it is neither form.
std::optional<TimeMs> ParseSince(const std::string& s, TimeMs now_ms) {
  if (s.size() >= 2) {
    char unit = s.back();
    int64_t scale = unit == 's'   ? 1000
                    : unit == 'm' ? 60'000
                    : unit == 'h' ? 3'600'000
                    : unit == 'd' ? 86'400'000
                                  : 0;
    char* end = nullptr;
    std::string num = s.substr(0, s.size() - 1);
    double v = std::strtod(num.c_str(), &end);
    if (scale > 0 && end == num.c_str() + num.size() && v >= 0)
      return now_ms - static_cast<TimeMs>(v * static_cast<double>(scale));
  }
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3)
    return std::nullopt;
  if (static_cast<size_t>(consumed) != s.size() &&
      std::sscanf(s.c_str() + consumed, "%*[ T]%d:%d:%d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  &consumed) != 3)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<TimeMs>(timegm(&tm)) * 1000;
}

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

}  // namespace

void AddAdminCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* admin = app.add_subcommand("admin", "Site administration: users, history export");
  admin->require_subcommand(1);
  AddUserCommands(*admin, ctx);

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
}

}  // namespace muster::cli
