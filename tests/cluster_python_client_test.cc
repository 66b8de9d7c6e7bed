// The Python client (clients/python) and its example against a real cluster's REST API: its
// unittest suite runs with /usr/bin/python3, as the cluster's owner (whose jobs run) and with a
// viewer's token for the refusals and the viewer's client certificate; then the client is
// installed with pip into a virtual environment (from a copy of its source, offline) and used
// from there.
#include <gtest/gtest.h>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

TEST(ClusterPythonClient, ItsTestsAndTheExamplePassAgainstARealCluster) {
  TestCluster cluster({.agents = 1, .gpus_per_agent = 1,
                       .coordinator_args = {"--http", "127.0.0.1:0"}});
  ASSERT_EQ(cluster.Start(), "");
  const std::string url = cluster.HttpUrl();
  auto session = cluster::RequestLocalSession(cluster.LocalSocket());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  CommandResult viewer = cluster.Muster({"admin", "user", "add", "vic", "--role", "viewer", "-q"});
  ASSERT_EQ(viewer.exit_code, 0) << viewer.err;
  const fs::path work = cluster.dir() / "work";
  fs::create_directories(work);
  const fs::path certs = cluster.dir() / "vic-cert";
  CommandResult cert = cluster.Muster({"admin", "user", "cert", "vic", "--out", certs.string()});
  ASSERT_EQ(cert.exit_code, 0) << cert.err;
  const std::map<std::string, std::string> env = {
      {"MUSTER_TEST_CLIENT_CERT", (certs / "vic.crt").string()},
      {"MUSTER_TEST_CLIENT_KEY", (certs / "vic.key").string()},
      {"MUSTER_URL", url},
      {"MUSTER_TOKEN", session->token},
      {"MUSTER_CA_CERT", (cluster.state_dir() / "tls" / "ca.crt").string()},
      {"MUSTER_VIEWER_TOKEN", viewer.out.substr(0, viewer.out.find('\n'))},
      {"MUSTER_TEST_WORKDIR", work.string()},
      {"PYTHONDONTWRITEBYTECODE", "1"}};
  const std::string root = MUSTER_SOURCE_DIR;
  CommandResult tests =
      RunCommand({"/usr/bin/python3", "-m", "unittest", "discover", "-v", "-s",
                  root + "/clients/python/tests"},
                 120s, env);
  EXPECT_EQ(tests.exit_code, 0) << tests.out << tests.err << cluster.LogTails();
  EXPECT_NE(tests.err.find("Ran 5 tests"), std::string::npos) << tests.err;
  EXPECT_NE(tests.err.find("\nOK"), std::string::npos) << tests.err;

  CommandResult example = RunCommand({"/usr/bin/python3", root + "/examples/rest_client.py"},
                                     120s, env);
  EXPECT_EQ(example.exit_code, 0) << example.out << example.err;
  EXPECT_NE(example.out.find("task 0: task 0 of job"), std::string::npos) << example.out;
  EXPECT_NE(example.out.find("succeeded {'succeeded': 4}"), std::string::npos) << example.out;

  // pip install, offline, with Debian's setuptools and wheel (a venv that sees the system's
  // packages and has no pip of its own), then imported from elsewhere.
  const fs::path source = cluster.dir() / "client-source", venv = cluster.dir() / "venv";
  fs::copy(root + "/clients/python", source, fs::copy_options::recursive);
  CommandResult made = RunCommand(
      {"/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", venv.string()},
      120s);
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  const std::string python = (venv / "bin" / "python").string();
  CommandResult pip = RunCommand({python, "-m", "pip", "install", "--no-index",
                                  "--no-build-isolation", "--no-cache-dir", source.string()},
                                 300s);
  ASSERT_EQ(pip.exit_code, 0) << pip.out << pip.err;
  EXPECT_NE(pip.out.find("Successfully installed muster-client-0.1.0"), std::string::npos)
      << pip.out;
  CommandResult used = RunCommand(
      {"/bin/sh", "-c",
       "cd / && exec " + python +
           " -c 'import muster; print(muster.__file__); print(muster.Client().whoami()[\"name\"])'"},
      60s, env);
  EXPECT_EQ(used.exit_code, 0) << used.out << used.err;
  EXPECT_NE(used.out.find((venv / "lib").string()), std::string::npos) << used.out;
  EXPECT_NE(used.out.find(session->name), std::string::npos) << used.out;
}

}  // namespace
}  // namespace muster::testing
