#include "sim/workload.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace muster::sim {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool Digits(const std::string& s, size_t pos, size_t n, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

int32_t Workload::UserIndex(const std::string& name) {
  for (size_t i = 0; i < users.size(); ++i)
    if (users[i] == name) return static_cast<int32_t>(i);
  users.push_back(name);
  return static_cast<int32_t>(users.size() - 1);
}

WorkloadStats ComputeStats(const Workload& w) {
  WorkloadStats s;
  s.jobs = static_cast<int64_t>(w.jobs.size());
  s.users = static_cast<int>(w.users.size());
  if (w.jobs.empty()) return s;
  std::vector<DurationMs> d;
  d.reserve(w.jobs.size());
  double sum_ms = 0;
  int64_t single = 0;
  s.first_submit_ms = w.jobs[0].submit_ms;
  s.last_submit_ms = w.jobs[0].submit_ms;
  for (const SimJob& j : w.jobs) {
    d.push_back(j.duration_ms);
    sum_ms += static_cast<double>(j.duration_ms);
    s.total_gpu_seconds += static_cast<double>(j.duration_ms) * j.gpus / 1000.0;
    ++s.gpu_mix[j.gpus];
    single += j.gpus == 1;
    s.first_submit_ms = std::min(s.first_submit_ms, j.submit_ms);
    s.last_submit_ms = std::max(s.last_submit_ms, j.submit_ms);
  }
  const size_t n = d.size();
  std::nth_element(d.begin(), d.begin() + n / 2, d.end());
  double mid = static_cast<double>(d[n / 2]);
  if (n % 2 == 0) {
    double lower = static_cast<double>(*std::max_element(d.begin(), d.begin() + n / 2));
    mid = (mid + lower) / 2;
  }
  s.median_duration_s = mid / 1000.0;
  s.mean_duration_s = sum_ms / static_cast<double>(n) / 1000.0;
  s.single_gpu_fraction = static_cast<double>(single) / static_cast<double>(n);
  return s;
}

std::string FormatUtc(TimeMs t) {
  int64_t secs = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u %02lld:%02lld:%02lld",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

bool ParseUtc(const std::string& s, TimeMs* out) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
    return false;
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, &y) || !Digits(s, 5, 2, &mo) || !Digits(s, 8, 2, &d) ||
      !Digits(s, 11, 2, &h) || !Digits(s, 14, 2, &mi) || !Digits(s, 17, 2, &se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return false;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap)) return false;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *out = ((days * 24 + h) * 60 + mi) * 60 * 1000 + static_cast<int64_t>(se) * 1000;
  return true;
}

}  // namespace muster::sim
