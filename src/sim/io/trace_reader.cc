#include "sim/io/trace_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace muster::sim::io {

namespace {

void SplitCsv(const std::string& line, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    std::string f =
        line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!f.empty() && (f.back() == '\r' || f.back() == ' ')) f.pop_back();
    size_t lead = 0;
    while (lead < f.size() && f[lead] == ' ') ++lead;
    out->push_back(f.substr(lead));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

bool ToDouble(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*v);
}

bool ToWholeGpus(const std::string& s, int32_t* g) {
  double v = 0;
  if (!ToDouble(s, &v) || v < 1 || v > 1'000'000 || v != std::floor(v)) return false;
  *g = static_cast<int32_t>(v);
  return true;
}

struct Columns {
  int submit = -1, duration = -1, gpus = -1, gpu_time = -1, user = -1, priority = -1,
      checkpointable = -1;
  size_t required_fields = 0;
};

Result<Columns> FindColumns(const std::vector<std::string>& header, TraceFormat f) {
  Columns c;
  auto find = [&](const char* name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  };
  std::vector<const char*> need;
  if (f == TraceFormat::kPhilly) {
    c.submit = find("timestamp");
    c.duration = find("duration");
    c.gpus = find("num_gpus");
    c.gpu_time = find("gpu_time");
    c.user = find("cluster");
    need = {"timestamp", "duration", "num_gpus", "cluster"};
    if (c.submit < 0 || c.duration < 0 || c.gpus < 0 || c.user < 0)
      return Status::InvalidArgument(
          "not a Philly trace: header must name timestamp,duration,num_gpus,gpu_time,cluster");
  } else {
    c.submit = find("submit_time_s");
    c.duration = find("duration_s");
    c.gpus = find("gpus");
    c.user = find("user");
    c.priority = find("priority");
    c.checkpointable = find("checkpointable");
    if (c.submit < 0 || c.duration < 0 || c.gpus < 0)
      return Status::InvalidArgument(
          "not a muster CSV trace: header must name submit_time_s,duration_s,gpus (and optionally "
          "user, priority, checkpointable)");
  }
  for (int i : {c.submit, c.duration, c.gpus, c.gpu_time, c.user, c.priority, c.checkpointable})
    c.required_fields = std::max(c.required_fields, static_cast<size_t>(i + 1));
  return c;
}

}  // namespace

Result<TraceFormat> ParseTraceFormat(const std::string& name) {
  if (name == "philly") return TraceFormat::kPhilly;
  if (name == "csv") return TraceFormat::kCsv;
  return Status::InvalidArgument("unknown trace format '" + name + "' (philly or csv)");
}

Result<TraceRead> ParseTrace(std::istream& in, TraceFormat format) {
  TraceRead out;
  std::string line;
  std::vector<std::string> fields;
  int64_t lineno = 0;
  Columns cols;
  bool have_header = false;
  std::unordered_map<std::string, int32_t> users;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    SplitCsv(line, &fields);
    if (!have_header) {
      auto c = FindColumns(fields, format);
      if (!c.ok())
        return Status::InvalidArgument("line " + std::to_string(lineno) + ": " +
                                       c.status().message());
      cols = *c;
      have_header = true;
      continue;
    }
    ++out.rows;
    auto bad = [&](const std::string& why) { out.bad_rows.push_back({lineno, why}); };
    if (fields.size() < cols.required_fields) {
      bad("has " + std::to_string(fields.size()) + " fields, expected " +
          std::to_string(cols.required_fields));
      continue;
    }
    SimJob j;
    j.source_line = static_cast<int32_t>(lineno);
    const std::string& ts = fields[cols.submit];
    if (format == TraceFormat::kPhilly) {
      if (!ParseUtc(ts, &j.submit_ms)) {
        bad("timestamp '" + ts + "' is not YYYY-MM-DD HH:MM:SS");
        continue;
      }
    } else {
      double s = 0;
      if (!ToDouble(ts, &s) || s < 0) {
        bad("submit_time_s '" + ts + "' is not a number >= 0");
        continue;
      }
      j.submit_ms = static_cast<TimeMs>(std::llround(s * 1000));
    }
    double d = 0;
    const std::string& ds = fields[cols.duration];
    if (!ToDouble(ds, &d) || d <= 0 || std::llround(d * 1000) < 1) {
      bad("duration '" + ds + "' is not a number > 0");
      continue;
    }
    j.duration_ms = static_cast<DurationMs>(std::llround(d * 1000));
    if (!ToWholeGpus(fields[cols.gpus], &j.gpus)) {
      bad("GPU count '" + fields[cols.gpus] + "' is not a whole number >= 1");
      continue;
    }
    double unused = 0;
    if (cols.gpu_time >= 0 && !ToDouble(fields[cols.gpu_time], &unused)) {
      bad("gpu_time '" + fields[cols.gpu_time] + "' is not a number");
      continue;
    }
    if (cols.priority >= 0 && !fields[cols.priority].empty()) {
      double p = 0;
      if (!ToDouble(fields[cols.priority], &p) || p != std::floor(p) || std::fabs(p) > 1e9) {
        bad("priority '" + fields[cols.priority] + "' is not an integer");
        continue;
      }
      j.priority = static_cast<int32_t>(p);
    }
    if (cols.checkpointable >= 0 && !fields[cols.checkpointable].empty()) {
      const std::string& c = fields[cols.checkpointable];
      if (c == "1" || c == "true" || c == "yes") {
        j.checkpointable = true;
      } else if (c != "0" && c != "false" && c != "no") {
        bad("checkpointable '" + c + "' is not 0/1, true/false or yes/no");
        continue;
      }
    }
    std::string user = cols.user >= 0 ? fields[cols.user] : "";
    if (format == TraceFormat::kPhilly && user.empty()) {
      bad("cluster id is empty");
      continue;
    }
    auto [it, added] = users.emplace(user, static_cast<int32_t>(out.workload.users.size()));
    if (added) out.workload.users.push_back(user);
    j.user = it->second;
    out.workload.jobs.push_back(j);
  }
  if (!have_header) return Status::InvalidArgument("trace is empty (no header line)");
  return out;
}

Result<TraceRead> ReadTraceFile(const std::string& path, TraceFormat format) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open trace '" + path + "': " + std::strerror(errno));
  auto r = ParseTrace(in, format);
  if (!r.ok()) return Status(r.status().code(), path + ": " + r.status().message());
  return r;
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace muster::sim::io
