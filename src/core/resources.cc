#include "core/resources.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

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

}  // namespace muster
