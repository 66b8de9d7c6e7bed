#include "sim/io/trace_reader.h"

#include <gtest/gtest.h>

#include <sstream>

#include "sim/io/report.h"

namespace muster::sim::io {
namespace {

TEST(SimTraceReader, PhillyRowsUsersAndBadRows) {
  std::istringstream in(
      "timestamp,duration,num_gpus,gpu_time,cluster\n"
      "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
      "2017-10-09 06:13:03,2951.0,4,11804.0,6214e9\n"
      "\n"
      "2017-10-09 06:13:0x,10.0,1,10.0,6214e9\n"
      "2017-10-09 06:13:03,-5,1,10.0,6214e9\n"
      "2017-10-09 06:13:03,5,0,10.0,6214e9\n"
      "2017-10-09 06:13:03,5,1.5,10.0,6214e9\n"
      "2017-10-09 06:13:03,5,1\n"
      "2017-09-29 07:58:32,860662.0,1,860662.0,11cb48\n");
  auto r = ParseTrace(in, TraceFormat::kPhilly);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->workload.jobs.size(), 3u);
  EXPECT_EQ(r->rows, 8);
  ASSERT_EQ(r->bad_rows.size(), 5u);
  EXPECT_EQ(r->bad_rows[0].line, 5);
  EXPECT_NE(r->bad_rows[0].why.find("timestamp"), std::string::npos);
  EXPECT_EQ(r->bad_rows[1].line, 6);
  EXPECT_EQ(r->bad_rows[2].line, 7);
  EXPECT_EQ(r->bad_rows[3].line, 8);
  EXPECT_EQ(r->bad_rows[4].line, 9);
  const auto& j = r->workload.jobs;
  EXPECT_EQ(j[0].duration_ms, 66000);
  EXPECT_EQ(j[1].gpus, 4);
  EXPECT_EQ(j[0].user, j[2].user);
  EXPECT_NE(j[0].user, j[1].user);
  EXPECT_EQ(r->workload.users.size(), 2u);
  EXPECT_EQ(j[0].source_line, 2);
  EXPECT_LT(j[2].submit_ms, j[0].submit_ms);  // rows are kept in file order, unsorted
}

TEST(SimTraceReader, GenericCsvAnyColumnOrder) {
  std::istringstream in(
      "user,gpus,duration_s,submit_time_s,priority\n"
      "alice,2,10.5,0,1\n"
      "bob,1,3,2.25,\n"
      "carol,1,abc,3,0\n");
  auto r = ParseTrace(in, TraceFormat::kCsv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->workload.jobs.size(), 2u);
  EXPECT_EQ(r->workload.jobs[0].duration_ms, 10500);
  EXPECT_EQ(r->workload.jobs[0].priority, 1);
  EXPECT_EQ(r->workload.jobs[1].submit_ms, 2250);
  ASSERT_EQ(r->bad_rows.size(), 1u);
  EXPECT_EQ(r->bad_rows[0].line, 4);
}

TEST(SimTraceReader, WrongHeaderOrMissingFileIsAnError) {
  std::istringstream philly_as_csv("timestamp,duration,num_gpus,gpu_time,cluster\n");
  auto r = ParseTrace(philly_as_csv, TraceFormat::kCsv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  std::istringstream empty("");
  EXPECT_FALSE(ParseTrace(empty, TraceFormat::kPhilly).ok());
  auto missing = ReadTraceFile("/nonexistent/trace.csv", TraceFormat::kPhilly);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ParseTraceFormat("parquet").ok());
}

TEST(SimReport, JsonTableAndSelfContainedHtml) {
  Workload w;
  w.users = {"u"};
  for (int i = 0; i < 30; ++i)
    w.jobs.push_back({i * 1000LL, (i % 7 + 1) * 1000LL, 1 + i % 2, 0, 0, 0});
  ClusterConfig c = ParseClusterShape("2x2").value();
  ReportInput in;
  in.title = "test <run>";
  in.command = "muster sim --generate jobs=30";
  in.cluster = c.Describe();
  in.stats = ComputeStats(w);
  for (const char* p : {"fifo", "srtf"}) {
    SimOptions o;
    o.policy = p;
    auto r = Simulate(w, c, o);
    ASSERT_TRUE(r.ok());
    in.runs.push_back({*r, {0.5, 10}});
  }
  auto j = ReportJson(in, true);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["policy"], "srtf");
  EXPECT_EQ(j["runs"][0]["completed"], 30);
  EXPECT_FALSE(j["runs"][0]["series"].empty());
  EXPECT_DOUBLE_EQ(j["runs"][0]["events_per_s"].get<double>(),
                   j["runs"][0]["events"].get<double>() / 0.5);
  std::string table = ComparisonTable(in.runs);
  EXPECT_NE(table.find("srtf"), std::string::npos);
  EXPECT_NE(table.find("JCT p99"), std::string::npos);
  std::string html = HtmlReport(in);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("CDF of job completion time"), std::string::npos);
  EXPECT_NE(html.find("test &lt;run&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // No external references: the only URL is the SVG namespace.
  std::string rest = html;
  for (size_t at; (at = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;)
    rest.erase(at, 26);
  EXPECT_EQ(rest.find("http"), std::string::npos);
}

}  // namespace
}  // namespace muster::sim::io
