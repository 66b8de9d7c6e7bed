#include "core/resources.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace muster {

std::string FormatMilliCpus(MilliCpu m) {
  std::string s = std::to_string(m / 1000);
  int64_t frac = m % 1000;
  if (frac != 0) {
    std::string f = std::to_string(1000 + frac).substr(1);
    while (!f.empty() && f.back() == '0') f.pop_back();
    s += "." + f;
  }
  return s;
}

std::string ResourceRequest::ToString() const {
  std::string s = "cpu=" + FormatMilliCpus(milli_cpus) + " mem=" + std::to_string(memory_mib) +
                  "MiB gpus=" + std::to_string(gpus);
  if (gpus > 0 && (min_gpu_memory_mib > 0 || !gpu_model.empty())) {
    s += " (";
    if (min_gpu_memory_mib > 0) s += ">=" + std::to_string(min_gpu_memory_mib) + "MiB";
    if (!gpu_model.empty()) s += (min_gpu_memory_mib > 0 ? ", model " : "model ") + gpu_model;
    s += ")";
  }
  return s;
}

MilliCpu ParseMilliCpus(const std::string& text) {
  if (text.empty()) return -1;
  if (text.back() == 'm') {
    std::string n = text.substr(0, text.size() - 1);
    if (n.empty()) return -1;
    for (char c : n)
      if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    return std::strtoll(n.c_str(), nullptr, 10);
  }
  // Decimal with at most three fractional digits.
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return -1;
  if (frac.size() > 3) return -1;
  for (char c : whole + frac)
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
  if (whole.size() > 12) return -1;
  int64_t w = whole.empty() ? 0 : std::strtoll(whole.c_str(), nullptr, 10);
  while (frac.size() < 3) frac += '0';
  return w * 1000 + std::strtoll(frac.c_str(), nullptr, 10);
}

MiB ParseMemoryMiB(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return -1;
  int64_t n = std::strtoll(text.substr(0, i).c_str(), nullptr, 10);
  std::string unit = text.substr(i);
  if (unit.empty() || unit == "M" || unit == "MiB" || unit == "Mi" || unit == "MB") return n;
  if (unit == "G" || unit == "GiB" || unit == "Gi" || unit == "GB") return n * 1024;
  if (unit == "T" || unit == "TiB" || unit == "Ti" || unit == "TB") return n * 1024 * 1024;
  return -1;
}

DurationMs ParseDurationMs(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || !(v >= 0) || !std::isfinite(v)) return -1;
  const std::string unit(end);
  double scale = unit.empty() || unit == "s"      ? 1000
                 : unit == "ms"                   ? 1
                 : unit == "m" || unit == "min"   ? 60'000
                 : unit == "h"                    ? 3'600'000
                 : unit == "d"                    ? 86'400'000
                                                  : 0;
  if (scale == 0 || v * scale > 9e15) return -1;
  return static_cast<DurationMs>(std::llround(v * scale));
}

namespace {

// "12" -> 12; -1 unless 1-9 digits.
int64_t Digits(const std::string& s) {
  if (s.empty() || s.size() > 9) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

DurationMs ParseTimeLimitMs(const std::string& text) {
  if (text.empty()) return -1;
  const bool slurm = text.find_first_not_of("0123456789:-") == std::string::npos;
  if (!slurm) {  // units: "2h", "1h30m", "90s"
    DurationMs total = 0;
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find_first_not_of("0123456789.", i);
      if (j == i || j == std::string::npos) return -1;
      size_t k = text.find_first_of("0123456789.", j);
      if (k == std::string::npos) k = text.size();
      const DurationMs part = ParseDurationMs(text.substr(i, k - i));
      if (part < 0 || total > 9e15 - part) return -1;
      total += part;
      i = k;
    }
    return total;
  }
  int64_t days = 0;
  std::string rest = text;
  if (size_t dash = rest.find('-'); dash != std::string::npos) {
    days = Digits(rest.substr(0, dash));
    rest = rest.substr(dash + 1);
    if (days < 0) return -1;
  }
  std::vector<int64_t> parts;
  size_t start = 0;
  while (true) {
    size_t colon = rest.find(':', start);
    parts.push_back(Digits(rest.substr(start, colon - start)));
    if (parts.back() < 0) return -1;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return -1;
  int64_t h = 0, m = 0, s = 0;
  const bool with_days = text.find('-') != std::string::npos;
  if (with_days) {  // D-HH, D-HH:MM, D-HH:MM:SS
    h = parts[0];
    if (parts.size() > 1) m = parts[1];
    if (parts.size() > 2) s = parts[2];
  } else if (parts.size() == 1) {  // MM
    m = parts[0];
  } else if (parts.size() == 2) {  // MM:SS
    m = parts[0];
    s = parts[1];
  } else {  // HH:MM:SS
    h = parts[0];
    m = parts[1];
    s = parts[2];
  }
  const double ms = (((static_cast<double>(days) * 24 + h) * 60 + m) * 60 + s) * 1000;
  if (ms > 9e15) return -1;
  return static_cast<DurationMs>(ms);
}

std::string FormatDurationMs(DurationMs ms) {
  if (ms <= 0) return "0s";
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  std::string out;
  const std::pair<int64_t, const char*> units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (const auto& [size, name] : units)
    if (s >= size) {
      out += std::to_string(s / size) + name;
      s %= size;
    }
  return out;
}

}  // namespace muster
