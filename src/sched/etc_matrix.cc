// ETC matrix parsing and schedule tables; see etc_matrix.h.
#include "sched/etc_matrix.h"
#include "sched/text_tokens.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace muster::sched {
namespace {

constexpr long long kMaxCells = 50'000'000;

bool ParseInt(std::string_view s, long long& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end;
}

std::string At(int line) {
  return "line " + std::to_string(line) + ": ";
}

}  // namespace

Result<EtcMatrix> ParseEtc(std::string_view text) {
  long long tasks = -1, machines = -1;
  std::vector<double> values;
  long long expected = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const auto tokens = Tokens(line);
    if (tokens.empty()) continue;
    if (tasks < 0) {
      long long third = 0;
      if (tokens.size() < 2 || tokens.size() > 3 || !ParseInt(tokens[0], tasks) ||
          !ParseInt(tokens[1], machines) || (tokens.size() == 3 && !ParseInt(tokens[2], third))) {
        return Status::InvalidArgument(At(line_no) +
                                       "header must be '<tasks> <machines> [0]', got '" +
                                       std::string(line) + "'");
      }
      // Divided, not multiplied: two huge counts must not overflow (found by fuzz/etc_fuzz).
      if (tasks <= 0 || machines <= 0 || tasks > kMaxCells / machines) {
        return Status::InvalidArgument(At(line_no) +
                                       "tasks and machines must be positive (and "
                                       "tasks x machines at most 50,000,000)");
      }
      expected = tasks * machines;
      values.reserve(static_cast<size_t>(expected));
      continue;
    }
    for (std::string_view tok : tokens) {
      double v = 0;
      if (!ParseWholeDouble(tok, v) || !std::isfinite(v) || v < 0) {
        return Status::InvalidArgument(At(line_no) + "'" + std::string(tok) +
                                       "' is not a non-negative number");
      }
      if (static_cast<long long>(values.size()) == expected) {
        return Status::InvalidArgument(At(line_no) + "more values than the " +
                                       std::to_string(expected) + " the header announces (" +
                                       std::to_string(tasks) + " tasks x " +
                                       std::to_string(machines) + " machines)");
      }
      values.push_back(v);
    }
  }
  if (tasks < 0) return Status::InvalidArgument("empty ETC matrix: no header line");
  if (static_cast<long long>(values.size()) != expected) {
    return Status::InvalidArgument("expected " + std::to_string(expected) + " values (" +
                                   std::to_string(tasks) + " tasks x " + std::to_string(machines) +
                                   " machines), found " + std::to_string(values.size()) +
                                   " before the end at line " + std::to_string(line_no));
  }
  return EtcMatrix(static_cast<int>(tasks), static_cast<int>(machines), std::move(values));
}

EtcSchedule BuildEtcSchedule(const EtcMatrix& etc, const std::vector<int>& machine_of,
                             const std::vector<int>& order, std::string heuristic) {
  EtcSchedule s;
  s.heuristic = std::move(heuristic);
  s.machine_of = machine_of;
  s.machine_finish.assign(etc.machines(), 0.0);
  s.rows.reserve(order.size());
  for (int t : order) {
    const int m = machine_of[t];
    EtcAssignment a{.task = t, .machine = m, .start = s.machine_finish[m], .finish = 0};
    a.finish = a.start + etc.At(t, m);
    s.machine_finish[m] = a.finish;
    s.flowtime += a.finish;
    s.rows.push_back(a);
  }
  s.makespan = s.machine_finish.empty()
                   ? 0
                   : *std::max_element(s.machine_finish.begin(), s.machine_finish.end());
  return s;
}

std::vector<double> MachineLoads(const EtcMatrix& etc, const std::vector<int>& machine_of) {
  std::vector<double> loads(etc.machines(), 0.0);
  for (int t = 0; t < etc.tasks(); ++t) loads[machine_of[t]] += etc.At(t, machine_of[t]);
  return loads;
}

}  // namespace muster::sched
