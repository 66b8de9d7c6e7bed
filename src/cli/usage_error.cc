// See usage_error.h.
#include "cli/usage_error.h"

#include <algorithm>

namespace muster::cli {

namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The command path so far, e.g. "admin user".
std::string PathOf(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
    path = a->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent())
    if (const CLI::Option* o = a->get_option_no_throw(name)) return o;
  return nullptr;
}

std::vector<std::string> FlagNames(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app->get_options()) {
    for (const auto& l : o->get_lnames()) out.push_back("--" + l);
    for (const auto& s : o->get_snames()) out.push_back("-" + s);
  }
  return out;
}

}  // namespace

std::string Closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(word.size() <= 4 ? 1 : 2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string DescribeUsageError(CLI::App& app, const CLI::ParseError& e, int argc,
                               const char* const* argv) {
  const CLI::App* current = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (token == "--") break;
    const std::string path = PathOf(current);
    const std::string help = "muster " + (path.empty() ? "" : path + " ") + "--help";
    if (token.size() > 1 && token[0] == '-') {
      const std::string name = token.substr(0, token.find('='));
      const CLI::Option* o = FindOption(current, name);
      if (o == nullptr) {
        const std::string near = Closest(name, FlagNames(current));
        return (path.empty() ? std::string("muster") : path) + " has no flag " + name +
               (near.empty() ? "" : "; did you mean " + near + "?") + " (see " + help + ")";
      }
      if (o->get_expected_min() > 0 && token.find('=') == std::string::npos) ++i;  // its value
      continue;
    }
    const CLI::App* sub = nullptr;
    std::vector<std::string> names;
    for (const CLI::App* s : current->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->check_name(token)) sub = s;
      names.push_back(s->get_name());
    }
    if (sub != nullptr) {
      current = sub;
      continue;
    }
    if (current->get_require_subcommand_min() > 0) {
      const std::string near = Closest(token, names);
      return "unknown command '" + (path.empty() ? "" : path + " ") + token + "'" +
             (near.empty() ? "" : "; did you mean " + near + "?") + " (see " + help + ")";
    }
  }
  return std::string(e.what()) + " (see --help)";
}

}  // namespace muster::cli
