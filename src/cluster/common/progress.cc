#include "cluster/common/progress.h"

#include <cctype>
#include <cmath>
#include <charconv>
#include <cstdlib>

namespace muster {

namespace {

bool ValidKey(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool ParseNumber(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

}  // namespace

std::optional<ProgressLine> ParseProgressLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.substr(0, kProgressPrefix.size()) != kProgressPrefix) return std::nullopt;
  line.remove_prefix(kProgressPrefix.size());
  ProgressLine p;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    std::string_view tok = line.substr(i, j - i);
    size_t eq = tok.find('=');
    if (eq == std::string_view::npos || !ValidKey(tok.substr(0, eq))) return std::nullopt;
    p.fields[std::string(tok.substr(0, eq))] = std::string(tok.substr(eq + 1));
    i = j;
  }
  auto d = p.fields.find("done");
  auto t = p.fields.find("total");
  if (d == p.fields.end() || t == p.fields.end()) return std::nullopt;
  if (!ParseNumber(d->second, &p.done) || !ParseNumber(t->second, &p.total)) return std::nullopt;
  // Finite and not negative: "inf", "nan" and 1e999 are not progress (found by progress_fuzz).
  if (!std::isfinite(p.total) || !std::isfinite(p.done) || p.total < 0 || p.done < 0)
    return std::nullopt;
  return p;
}

std::string FormatProgressLine(const ProgressLine& p) {
  std::string s(kProgressPrefix);
  char buf[64];
  auto num = [&](double v) {
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, ptr);
  };
  s += "done=" + num(p.done) + " total=" + num(p.total);
  for (const auto& [k, v] : p.fields)
    if (k != "done" && k != "total") s += " " + k + "=" + v;
  return s;
}

}  // namespace muster
