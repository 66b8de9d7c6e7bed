// The self-contained HTML report: a summary table and four inline SVG line charts (JCT CDF on a
// log axis, utilization, queue length and Jain's index over time), one line per policy run.
// No scripts, fonts or external files. Also WriteReportDir().
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sim/io/report.h"

namespace muster::sim::io {

namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string Tick(double v) {
  char buf[32];
  double a = std::fabs(v);
  if (a >= 1e6 || (a > 0 && a < 1e-2))
    std::snprintf(buf, sizeof(buf), "%.0e", v);
  else if (a >= 100 || v == std::floor(v))
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  else
    std::snprintf(buf, sizeof(buf), "%.2g", v);
  return buf;
}

struct Line {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// One chart; log_x maps x through log10 (x <= 0 points are dropped).
std::string Chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                  const std::vector<Line>& lines, bool log_x, double ymin_fixed = NAN,
                  double ymax_fixed = NAN) {
  const double W = 640, H = 300, L = 60, R = 150, T = 30, B = 45;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  auto fx = [&](double x) { return log_x ? std::log10(x) : x; };
  for (const auto& l : lines)
    for (auto [x, y] : l.points) {
      if (log_x && x <= 0) continue;
      x0 = std::min(x0, fx(x));
      x1 = std::max(x1, fx(x));
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  if (!std::isnan(ymin_fixed)) y0 = ymin_fixed;
  if (!std::isnan(ymax_fixed)) y1 = std::max(ymax_fixed, y1);
  if (!(x1 > x0)) {
    x0 = std::isfinite(x0) ? x0 - 1 : 0;
    x1 = x0 + 2;
  }
  if (!(y1 > y0)) {
    y0 = std::isfinite(y0) ? y0 : 0;
    y1 = y0 + 1;
  }
  auto px = [&](double x) { return L + (fx(x) - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(W) + "\" height=\"" +
                  Num(H) + "\" viewBox=\"0 0 " + Num(W) + " " + Num(H) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<text x=\"" + Num(L) + "\" y=\"18\" font-size=\"13\" font-weight=\"bold\">" + Esc(title) +
       "</text>\n";
  s += "<rect x=\"" + Num(L) + "\" y=\"" + Num(T) + "\" width=\"" + Num(W - L - R) +
       "\" height=\"" + Num(H - T - B) + "\" fill=\"none\" stroke=\"#999\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double yv = y0 + (y1 - y0) * i / 4;
    s += "<line x1=\"" + Num(L) + "\" x2=\"" + Num(W - R) + "\" y1=\"" + Num(py(yv)) + "\" y2=\"" +
         Num(py(yv)) + "\" stroke=\"#eee\"/>";
    s += "<text x=\"" + Num(L - 4) + "\" y=\"" + Num(py(yv) + 4) + "\" text-anchor=\"end\">" +
         Tick(yv) + "</text>\n";
  }
  if (log_x) {
    for (int e = static_cast<int>(std::ceil(x0)); e <= static_cast<int>(std::floor(x1)); ++e) {
      double xv = std::pow(10.0, e);
      s += "<text x=\"" + Num(px(xv)) + "\" y=\"" + Num(H - B + 15) + "\" text-anchor=\"middle\">" +
           Tick(xv) + "</text>\n";
    }
  } else {
    for (int i = 0; i <= 4; ++i) {
      double xv = x0 + (x1 - x0) * i / 4;
      s += "<text x=\"" + Num(px(xv)) + "\" y=\"" + Num(H - B + 15) + "\" text-anchor=\"middle\">" +
           Tick(xv) + "</text>\n";
    }
  }
  s += "<text x=\"" + Num((L + W - R) / 2) + "\" y=\"" + Num(H - 8) + "\" text-anchor=\"middle\">" +
       Esc(xlabel) + "</text>\n";
  s += "<text transform=\"translate(14," + Num((T + H - B) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + Esc(ylabel) + "</text>\n";
  for (size_t k = 0; k < lines.size(); ++k) {
    const char* color = kColors[k % (sizeof(kColors) / sizeof(kColors[0]))];
    std::string pts;
    for (auto [x, y] : lines[k].points) {
      if (log_x && x <= 0) continue;
      pts += Num(px(x)) + "," + Num(py(y)) + " ";
    }
    s += "<polyline fill=\"none\" stroke=\"" + std::string(color) +
         "\" stroke-width=\"1.5\" points=\"" + pts + "\"/>\n";
    double ly = T + 14 + 16.0 * static_cast<double>(k);
    s += "<line x1=\"" + Num(W - R + 10) + "\" x2=\"" + Num(W - R + 30) + "\" y1=\"" + Num(ly) +
         "\" y2=\"" + Num(ly) + "\" stroke=\"" + color + "\" stroke-width=\"2\"/>";
    s += "<text x=\"" + Num(W - R + 34) + "\" y=\"" + Num(ly + 4) + "\">" + Esc(lines[k].name) +
         "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

std::string RunName(const SimResult& r) {
  return r.policy + (r.backfill ? "+backfill" : "") +
         (r.balancer != "off" ? " balancer " + r.balancer : "");
}

// Time axis in hours when the run is longer than two days' worth of minutes, else in minutes.
std::vector<Line> SeriesLines(const std::vector<PolicyRun>& runs, double scale,
                              double (*value)(const SeriesPoint&, const SimResult&)) {
  std::vector<Line> out;
  for (const auto& r : runs) {
    Line l{RunName(r.result), {}};
    for (const auto& p : r.result.series) l.points.push_back({p.t_s / scale, value(p, r.result)});
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace

std::string HtmlReport(const ReportInput& in) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
                  Esc(in.title) +
                  "</title>\n<style>body{font-family:sans-serif;margin:24px;"
                  "color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px "
                  "solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child"
                  "{text-align:left}pre{background:#f8f8f8;padding:8px}svg{margin:8px 12px 8px 0}"
                  "</style></head><body>\n";
  h += "<h1>" + Esc(in.title) + "</h1>\n";
  h += "<p>Cluster: " + Esc(in.cluster) + ". Command:</p><pre>" + Esc(in.command) + "</pre>\n";
  h += "<h2>Workload</h2><pre>" + Esc(FormatStats(in.stats, in.utc_times)) + "</pre>\n";
  h += "<h2>Results</h2>\n<table><tr><th>policy</th><th>completed</th><th>JCT mean</th><th>JCT "
       "median</th><th>JCT p95</th><th>JCT p99</th><th>wait mean</th><th>wait median</th><th>wait "
       "p95</th><th>wait p99</th><th>makespan</th><th>utilization</th><th>mean Jain</th>"
       "<th>preemptions</th><th>migrations</th><th>balancer moves started / pinned / proposed</th>"
       "<th>migration overhead GPU-h</th><th>multi-node jobs</th><th>events</th><th>wall s</th>"
       "</tr>\n";
  for (const auto& r : in.runs) {
    const SimResult& s = r.result;
    char util[32], jain[32], wall[32], over[32];
    std::snprintf(over, sizeof(over), "%.2f", s.migration_overhead_gpu_seconds / 3600.0);
    std::snprintf(util, sizeof(util), "%.1f%%", 100 * s.utilization);
    std::snprintf(jain, sizeof(jain), "%.3f", s.mean_jain);
    std::snprintf(wall, sizeof(wall), "%.2f", r.cost.wall_s);
    h += "<tr><td>" + Esc(RunName(s)) + "</td><td>" + std::to_string(s.completed) + "</td><td>" +
         HumanSeconds(s.jct_s.mean) + "</td><td>" + HumanSeconds(s.jct_s.median) + "</td><td>" +
         HumanSeconds(s.jct_s.p95) + "</td><td>" + HumanSeconds(s.jct_s.p99) + "</td><td>" +
         HumanSeconds(s.queue_delay_s.mean) + "</td><td>" + HumanSeconds(s.queue_delay_s.median) +
         "</td><td>" + HumanSeconds(s.queue_delay_s.p95) + "</td><td>" +
         HumanSeconds(s.queue_delay_s.p99) + "</td><td>" + HumanSeconds(s.makespan_s) +
         "</td><td>" + util + "</td><td>" + jain + "</td><td>" + std::to_string(s.preemptions) +
         "</td><td>" + std::to_string(s.migrations) + "</td><td>" +
         std::to_string(s.started_moves) + " / " + std::to_string(s.pinned_moves) + " / " +
         std::to_string(s.proposed_moves) + "</td><td>" + over + "</td><td>" +
         std::to_string(s.multi_node_jobs) + "</td><td>" + std::to_string(s.events) + "</td><td>" +
         wall + "</td></tr>\n";
  }
  h += "</table>\n<h2>Plots</h2>\n";
  std::vector<Line> cdf;
  for (const auto& r : in.runs) cdf.push_back({RunName(r.result), r.result.jct_cdf});
  h += Chart("CDF of job completion time", "JCT (s, log scale)", "fraction of jobs", cdf, true, 0,
             1);
  double longest = 0;
  for (const auto& r : in.runs)
    if (!r.result.series.empty()) longest = std::max(longest, r.result.series.back().t_s);
  const bool hours = longest > 2 * 86400;
  const double scale = hours ? 3600 : 60;
  const std::string tl =
      hours ? "time since first submission (h)" : "time since first submission (min)";
  h += Chart("GPU utilization", tl, "busy GPUs (%)",
             SeriesLines(in.runs, scale,
                         [](const SeriesPoint& p, const SimResult& s) {
                           return s.total_gpus ? 100.0 * p.busy_gpus / s.total_gpus : 0.0;
                         }),
             false, 0, 100);
  h += Chart("Queue length", tl, "queued jobs (time-weighted mean)",
             SeriesLines(in.runs, scale,
                         [](const SeriesPoint& p, const SimResult&) { return p.queued_jobs; }),
             false, 0);
  h += Chart(
      "Jain's index of per-node GPU load", tl, "Jain index (1 = balanced)",
      SeriesLines(in.runs, scale, [](const SeriesPoint& p, const SimResult&) { return p.jain; }),
      false, 0, 1);
  h += "<p>Utilization and queue length are time-weighted means over each interval; Jain's index "
       "is sampled at each interval's end over per-node busy-GPU fractions (idle nodes count as "
       "load 0; an idle cluster counts as balanced).</p>\n</body></html>\n";
  return h;
}

Status WriteReportDir(const std::string& dir, const ReportInput& in) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Status::InvalidArgument("cannot create report directory '" + dir + "': " + ec.message());
  auto write = [&](const std::string& name, const std::string& text) -> Status {
    std::string path = (std::filesystem::path(dir) / name).string();
    std::ofstream out(path);
    if (out) out << text;
    if (!out) return Status::Internal("cannot write '" + path + "': " + std::strerror(errno));
    return Status::Ok();
  };
  if (Status s = write("report.html", HtmlReport(in)); !s.ok()) return s;
  return write("report.json", ReportJson(in, true).dump(2) + "\n");
}

}  // namespace muster::sim::io
