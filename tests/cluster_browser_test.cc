// The dashboard in a real Chromium (Debian's chromium, driven by puppeteer-core from npm; both
// installed by scripts/install-deps) against a real cluster: tests/browser/dashboard_test.js
// signs in, follows a job's progress and log, cancels as admin, is refused as a viewer, renders
// every page and is sent back to sign-in when its token is removed. Screenshots of each page are
// kept in MUSTER_SCREENSHOT_DIR, else in the build tree's browser-screenshots/.
#include <gtest/gtest.h>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

TEST(ClusterBrowser, TheDashboardSignsInFollowsAJobCancelsAndHonoursRoles) {
  const std::string root = MUSTER_SOURCE_DIR;
  ASSERT_TRUE(fs::exists(root + "/tests/browser/node_modules/puppeteer-core"))
      << "puppeteer-core is missing: scripts/install-deps installs it";
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "chromium is missing: scripts/install-deps";
  TestCluster cluster({.agents = 1, .gpus_per_agent = 1,
                       .coordinator_args = {"--http", "127.0.0.1:0", "--balance-period", "1s"}});
  ASSERT_EQ(cluster.Start(), "");
  const std::string url = cluster.HttpUrl();
  auto session = cluster::RequestLocalSession(cluster.LocalSocket());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_EQ(session->role, "admin");
  CommandResult viewer = cluster.Muster({"admin", "user", "add", "vic", "--role", "viewer", "-q"});
  ASSERT_EQ(viewer.exit_code, 0) << viewer.err;
  const char* dir = std::getenv("MUSTER_SCREENSHOT_DIR");
  const fs::path shots = dir && *dir ? fs::path(dir) : fs::path(MUSTER_ARTIFACT_DIR);
  fs::create_directories(shots);
  CommandResult run = RunCommand(
      {"/usr/bin/node", root + "/tests/browser/dashboard_test.js"}, 150s,
      {{"MUSTER_URL", url},
       {"MUSTER_ADMIN_TOKEN", session->token},
       {"MUSTER_VIEWER_TOKEN", viewer.out.substr(0, viewer.out.find('\n'))},
       {"MUSTER_VIEWER_NAME", "vic"},
       {"MUSTER_STATE_DIR", cluster.state_dir().string()},
       {"MUSTER_COORDINATOR", cluster.address()},
       {"MUSTER_BINARY", MUSTER_BINARY},
       {"NODE_EXTRA_CA_CERTS", (cluster.state_dir() / "tls" / "ca.crt").string()},
       {"SCREENSHOT_DIR", shots.string()},
       {"HOME", cluster.dir().string()}});  // Chromium's profile and crash dirs
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err << cluster.LogTails();
  for (const char* check :
       {"ok signed in as admin", "ok the progress bar advances", "ok the log tail follows",
        "ok cancel from the page cancels the job", "ok a viewer gets no cancel button",
        "ok a removed token returns to sign-in", "ok the overview charts the balance trend",
        "ok no script errors"})
    EXPECT_NE(run.out.find(check), std::string::npos) << check << "\n" << run.out;
  for (const char* page : {"signin", "overview", "queue", "job", "schedule", "balancer", "sim"})
    EXPECT_TRUE(fs::exists(shots / (std::string(page) + ".png"))) << page;
}

}  // namespace
}  // namespace muster::testing
