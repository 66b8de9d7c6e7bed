// `muster sim` as a user runs it: help, refusal of traces with bad rows (and --skip-bad-rows),
// a policy comparison as JSON, the HTML report, usage errors with exit code 2, and the balancer
// comparison (--balancer off,on) on a small fragmentation trace.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Ran {
  int code = -1;
  std::string out, err;
};

class SimCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("muster_sim_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Ran Muster(const std::string& args) {
    std::string out = (dir_ / "out.txt").string(), err = (dir_ / "err.txt").string();
    std::string cmd = std::string(MUSTER_BIN) + " sim " + args + " >" + out + " 2>" + err;
    int rc = std::system(cmd.c_str());
    Ran r;
    r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }
  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(SimCli, HelpNamesTheOptions) {
  Ran r = Muster("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* opt : {"--trace",
                          "--format",
                          "--cluster-file",
                          "--policy",
                          "--backfill",
                          "--placement",
                          "--multi-node-slowdown",
                          "--generate",
                          "--stats",
                          "--skip-bad-rows",
                          "--report",
                          "--seed",
                          "--balancer",
                          "--balance-period",
                          "--balance-threshold",
                          "--balance-k",
                          "--balance-window",
                          "--migration-cost",
                          "--checkpointable-fraction",
                          "--single-node-jobs"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

TEST_F(SimCli, BadRowsAreRefusedUnlessSkipped) {
  std::string trace = Write("t.csv",
                            "submit_time_s,duration_s,gpus,user\n"
                            "0,10,1,a\n"
                            "1,ten,1,b\n"
                            "2,5,2,a\n");
  Ran refused = Muster("--trace " + trace + " --format csv --cluster 1x4");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("line 3"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--skip-bad-rows"), std::string::npos);
  Ran skipped = Muster("--trace " + trace + " --format csv --cluster 1x4 --skip-bad-rows -o json");
  ASSERT_EQ(skipped.code, 0) << skipped.err;
  auto j = nlohmann::json::parse(skipped.out);
  EXPECT_EQ(j["runs"][0]["completed"], 2);
  // Two jobs, both fit at once: JCTs 10 s and 5 s.
  EXPECT_DOUBLE_EQ(j["runs"][0]["jct_s"]["mean"].get<double>(), 7.5);
}

TEST_F(SimCli, ComparisonAsJsonAndHtmlReport) {
  fs::path report = dir_ / "report";
  Ran r = Muster(
      "--generate jobs=300,rate=200,seed=3 --cluster 2x8 --policy fifo,sjf,srtf,las "
      "--backfill -o json --report " +
      report.string());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 4u);
  for (const auto& run : j["runs"]) EXPECT_EQ(run["completed"], 300);
  EXPECT_EQ(j["workload"]["jobs"], 300);
  std::string html = Slurp(report / "report.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("las+backfill"), std::string::npos);
  auto rj = nlohmann::json::parse(Slurp(report / "report.json"));
  EXPECT_FALSE(rj["runs"][0]["series"].empty());
}

TEST_F(SimCli, TextTableAndStats) {
  Ran r = Muster("--generate jobs=100,rate=60 --cluster 1x8 --policy fifo,sjf");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("JCT mean"), std::string::npos);
  EXPECT_NE(r.out.find("sjf"), std::string::npos);
  Ran s = Muster("--generate jobs=100,rate=60 --stats");
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("jobs:            100"), std::string::npos) << s.out;
}

TEST_F(SimCli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(Muster("--generate jobs=10 --cluster 1x8 --policy lottery").code, 2);
  EXPECT_EQ(Muster("--generate jobs=10").code, 2);  // no cluster
  EXPECT_EQ(Muster("--generate jobs=10 --cluster 8").code, 2);
  EXPECT_EQ(Muster("--trace /nonexistent.csv --cluster 1x8").code, 2);
  EXPECT_EQ(Muster("--generate jobs=10 --cluster 1x8 --multi-node-slowdown 0.5").code, 2);
  std::string cf = Write("c.txt", "2 8 V100\n");
  Ran bad = Muster("--generate jobs=10 --cluster-file " + cf);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("line 1"), std::string::npos);
}

// Two 4-GPU nodes; a 1-GPU checkpointable job on each (scattered placement) leaves 3 + 3 GPUs free,
// and a 4-GPU job (not checkpointable, single-node) waits for one of them to finish, 10 h away. The
// balancer's defragmentation migrates one small job (60 s) so that the 4-GPU job starts about a
// minute after it arrives.
TEST_F(SimCli, BalancerComparisonSideBySide) {
  std::string trace = Write("frag.csv",
                            "submit_time_s,duration_s,gpus,checkpointable\n"
                            "0,36000,1,1\n0,36000,1,yes\n10,3600,4,0\n");
  std::string args = "--trace " + trace +
                     " --format csv --cluster 2x4 --single-node-jobs "
                     "--placement scattered ";
  Ran r = Muster(args + "--balancer off,on --balance-period 30s --migration-cost 60s");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("migrations"), std::string::npos) << r.out;
  Ran j = Muster(args + "--balancer off,on --balance-period 30s -o json");
  ASSERT_EQ(j.code, 0) << j.err;
  auto runs = nlohmann::json::parse(j.out)["runs"];
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["balancer"]["mode"], "off");
  EXPECT_EQ(runs[0]["balancer"]["migrations"], 0);
  EXPECT_EQ(runs[1]["balancer"]["mode"], "on");
  EXPECT_EQ(runs[1]["balancer"]["migrations"], 1);
  EXPECT_LT(runs[1]["jct_s"]["mean"].get<double>(), runs[0]["jct_s"]["mean"].get<double>());
  // Nothing is checkpointable: nothing moves.
  Ran none = Muster(args + "--balancer on --checkpointable-fraction 0 -o json");
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(nlohmann::json::parse(none.out)["runs"][0]["balancer"]["migrations"], 0);
  EXPECT_EQ(Muster(args + "--balancer sideways").code, 2);
  EXPECT_EQ(Muster(args + "--balancer on --balance-period soon").code, 2);
  EXPECT_EQ(Muster(args + "--balancer on --checkpointable-fraction 2").code, 2);
}

}  // namespace
