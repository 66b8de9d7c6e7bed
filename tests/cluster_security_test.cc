// Integration: who may do what on a real cluster, with a second Unix user made for the test.
// The coordinator tells local callers apart by the kernel's peer credentials (its local socket);
// a root agent runs each task as its owner. Needs root (useradd, setpriv): skipped otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "cluster/common/pki.h"
#include "cluster/common/tls.h"
#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

bool IsRoot() {
  return ::geteuid() == 0;
}

// The job's stdout once its task has finished (the coordinator serves it).
std::string Stdout(TestCluster& c, int64_t id) {
  CommandResult logs = c.Muster({"logs", std::to_string(id)});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  return logs.out;
}

TEST(ClusterSecurity, ASecondLocalUserIsItselfAndOnlyItself) {
  if (!IsRoot()) GTEST_SKIP() << "needs root to make a Unix user and run as it";
  TestUnixUser bob;
  ASSERT_TRUE(bob.ok()) << bob.error();
  TestCluster cluster({.agents = 1, .coordinator_args = {"--allow-local-users"}});
  // Other users reach the socket through the test's directory (searchable, not listable).
  ASSERT_EQ(chmod(cluster.dir().c_str(), 0711), 0);
  ASSERT_EQ(cluster.Start(), "");

  // The owner's job, with a secret in its environment.
  const int64_t mine = cluster.Submit({"--env", "SECRET=hunter2", "--workdir", "/tmp", "--",
                                       "/bin/sh", "-c", "sleep 30"});
  ASSERT_GT(mine, 0);

  CommandResult who = cluster.MusterAs(bob.name(), {"whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find(bob.name() + " (user, local uid " + std::to_string(bob.uid()) + ")"),
            std::string::npos)
      << who.out;

  // bob cannot cancel it, read its logs or its environment, or submit as its owner.
  CommandResult cancel = cluster.MusterAs(bob.name(), {"cancel", std::to_string(mine)});
  EXPECT_EQ(cancel.exit_code, 6) << cancel.out << cancel.err;
  EXPECT_NE(cancel.err.find("permission denied: job " + std::to_string(mine) + " belongs to"),
            std::string::npos)
      << cancel.err;
  CommandResult logs = cluster.MusterAs(bob.name(), {"logs", std::to_string(mine)});
  EXPECT_EQ(logs.exit_code, 6) << logs.err;
  CommandResult show = cluster.MusterAs(bob.name(), {"show", std::to_string(mine), "-o", "json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(show.out.find("hunter2"), std::string::npos) << show.out;
  CommandResult as_root =
      cluster.MusterAs(bob.name(), {"submit", "--user", "root", "--", "/bin/true"});
  EXPECT_EQ(as_root.exit_code, 6) << as_root.err;
  auto job = cluster.client().GetJob(mine);
  ASSERT_TRUE(job.ok());
  EXPECT_NE(job->state(), v1::JOB_STATE_CANCELLED);  // nothing bob tried changed it

  // bob's own job runs as bob, with bob's groups and a clean environment.
  CommandResult sub = cluster.MusterAs(
      bob.name(), {"submit", "-q", "--workdir", "/tmp", "--", "/bin/sh", "-c",
                   "echo uid=$(id -u) gid=$(id -g) user=$USER home=$HOME; "
                   "echo secret=${MUSTER_TOKEN:-none}; touch \"$MUSTER_CHECKPOINT_DIR/ok\" && "
                   "echo ckpt=writable"});
  ASSERT_EQ(sub.exit_code, 0) << sub.err << cluster.LogTails();
  const int64_t theirs = std::stoll(sub.out);
  v1::JobInfo done = cluster.WaitForJob(theirs, 30s);
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.reason() << cluster.LogTails();
  EXPECT_EQ(done.spec().user(), bob.name());
  const std::string out = Stdout(cluster, theirs);
  EXPECT_NE(out.find("uid=" + std::to_string(bob.uid()) + " "), std::string::npos) << out;
  EXPECT_NE(out.find("user=" + bob.name()), std::string::npos) << out;
  EXPECT_NE(out.find("secret=none"), std::string::npos) << out;
  EXPECT_NE(out.find("ckpt=writable"), std::string::npos) << out;
  // On the node, the task's log files are bob's, and private.
  struct stat log_st {};
  const std::string log_file =
      (cluster.dir() / "node-0" / "logs" / (std::to_string(theirs) + ".0.1.out")).string();
  ASSERT_EQ(stat(log_file.c_str(), &log_st), 0) << log_file;
  EXPECT_EQ(log_st.st_uid, bob.uid());
  EXPECT_EQ(log_st.st_mode & 0777, 0600u);
  // bob may read his own logs; the owner (an admin) may read them too.
  CommandResult own = cluster.MusterAs(bob.name(), {"logs", std::to_string(theirs)});
  EXPECT_EQ(own.exit_code, 0) << own.err;
  EXPECT_EQ(own.out, out);
  // bob may cancel his own job, and the owner may cancel anyone's.
  CommandResult mine_cancel = cluster.Muster({"cancel", std::to_string(mine)});
  EXPECT_EQ(mine_cancel.exit_code, 0) << mine_cancel.err;

  // The audit log has all of it; only admins may read it.
  CommandResult audit = cluster.Muster({"admin", "audit", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  auto entries = nlohmann::json::parse(audit.out);
  auto has = [&](const std::string& who, const std::string& action, bool ok) {
    for (const auto& e : entries)
      if (e["identity"] == who && e["action"] == action && (e["result"] == "ok") == ok)
        return true;
    return false;
  };
  EXPECT_TRUE(has(bob.name(), "cancel", false)) << audit.out;
  EXPECT_TRUE(has(bob.name(), "logs", false)) << audit.out;
  EXPECT_TRUE(has(bob.name(), "submit", false)) << audit.out;  // --user root
  EXPECT_TRUE(has(bob.name(), "submit", true)) << audit.out;
  EXPECT_TRUE(has("root", "cancel", true)) << audit.out;
  EXPECT_TRUE(has("root", "register", true)) << audit.out;  // its agent, through the socket
  CommandResult bobs = cluster.MusterAs(bob.name(), {"admin", "audit"});
  EXPECT_EQ(bobs.exit_code, 6) << bobs.err;
}

TEST(ClusterSecurity, WithoutAllowLocalUsersOthersAreShutOut) {
  if (!IsRoot()) GTEST_SKIP() << "needs root to make a Unix user and run as it";
  TestUnixUser eve("musterx");
  ASSERT_TRUE(eve.ok()) << eve.error();
  TestCluster cluster({.agents = 1});
  ASSERT_EQ(chmod(cluster.dir().c_str(), 0711), 0);
  ASSERT_EQ(cluster.Start(), "");
  struct stat st {};
  ASSERT_EQ(stat(cluster.state_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // the state dir is private
  ASSERT_EQ(stat(cluster.LocalSocket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const int64_t mine = cluster.Submit({"--workdir", "/tmp", "--", "/bin/sh", "-c", "sleep 30"});
  ASSERT_GT(mine, 0);
  // eve cannot even read the cluster's CA certificate in the private state dir: nothing is sent.
  CommandResult blind = cluster.MusterAs(eve.name(), {"queue"});
  EXPECT_EQ(blind.exit_code, 6) << blind.err;
  EXPECT_NE(blind.err.find("is another user's private state dir"), std::string::npos) << blind.err;
  // With the CA certificate (it is public) she reaches the coordinator over TLS, but has no
  // credential: every call is refused (exit 7).
  const fs::path ca = cluster.dir() / "ca.crt";
  fs::copy_file(cluster.state_dir() / "tls" / "ca.crt", ca);
  ASSERT_EQ(chmod(ca.c_str(), 0644), 0);
  const std::map<std::string, std::string> env = {
      {"MUSTER_CA_CERT", ca.string()}, {"MUSTER_STATE_DIR", cluster.state_dir().string()}};
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"queue"},
                                             {"cancel", std::to_string(mine)},
                                             {"submit", "--", "/usr/bin/id"}}) {
    std::vector<std::string> full = args;
    full.insert(full.begin() + (args[0] == "submit" ? 1 : static_cast<long>(args.size())),
                {"--coordinator", cluster.address()});
    CommandResult r = RunMusterAs(eve.name(), full, 20s, env);
    EXPECT_EQ(r.exit_code, 7) << args[0] << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("authentication required"), std::string::npos) << r.err;
  }
  // A forged token is refused the same way.
  CommandResult forged =
      RunMusterAs(eve.name(), {"queue", "--coordinator", cluster.address()}, 20s,
                  {{"MUSTER_TOKEN", "mst_" + std::string(64, 'f')}, {"MUSTER_CA_CERT", ca.string()}});
  EXPECT_EQ(forged.exit_code, 7) << forged.err;
  auto job = cluster.client().GetJob(mine);
  ASSERT_TRUE(job.ok());
  EXPECT_NE(job->state(), v1::JOB_STATE_CANCELLED);
  auto list = cluster.client().ListJobs({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->jobs_size(), 1);  // eve's submission never became a job
}

TEST(ClusterSecurity, ATokenUserWorksFromAnywhereWithItsRole) {
  TestCluster cluster({.agents = 1});
  ASSERT_EQ(cluster.Start(), "");
  CommandResult add = cluster.Muster({"admin", "user", "add", "vera", "--role", "viewer", "-q"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::string token = add.out.substr(0, add.out.find('\n'));
  ASSERT_EQ(token.rfind("mst_", 0), 0u) << add.out;
  // With a token and the CA certificate, the state dir is not needed: point at an empty one.
  const std::map<std::string, std::string> env = {
      {"MUSTER_TOKEN", token},
      {"MUSTER_STATE_DIR", "/nonexistent"},
      {"MUSTER_CA_CERT", (cluster.state_dir() / "tls" / "ca.crt").string()}};
  CommandResult who = RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("vera (viewer, token)"), std::string::npos) << who.out;
  CommandResult nodes = RunMuster({"nodes", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(nodes.exit_code, 0) << nodes.err;
  CommandResult submit =
      RunMuster({"submit", "--coordinator", cluster.address(), "--", "/bin/true"}, 20s, env);
  EXPECT_EQ(submit.exit_code, 6) << submit.err;
  EXPECT_NE(submit.err.find("viewer role"), std::string::npos) << submit.err;
  CommandResult list = cluster.Muster({"admin", "user", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("\"vera\""), std::string::npos);
  EXPECT_EQ(list.out.find("mst_"), std::string::npos);  // tokens are never shown again
  CommandResult rm = cluster.Muster({"admin", "user", "remove", "vera"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  CommandResult after = RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(after.exit_code, 7) << after.out;
}

TEST(ClusterSecurity, AUserCertificateIdentifiesItsUserUntilReplaced) {
  TestCluster cluster({.agents = 1});
  ASSERT_EQ(cluster.Start(), "");
  ASSERT_EQ(cluster.Muster({"admin", "user", "add", "carl", "--role", "user", "-q"}).exit_code, 0);
  const std::filesystem::path out = cluster.state_dir() / "carl-cert";
  CommandResult made = cluster.Muster({"admin", "user", "cert", "carl", "--out", out.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("MUSTER_CLIENT_CERT="), std::string::npos) << made.out;
  const std::string key = (out / "carl.key").string(), crt = (out / "carl.crt").string();
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // No token anywhere: the certificate alone says who this is.
  const std::map<std::string, std::string> env = {{"MUSTER_STATE_DIR", "/nonexistent"},
                                                  {"MUSTER_CLIENT_CERT", crt},
                                                  {"MUSTER_CLIENT_KEY", key},
                                                  {"MUSTER_CA_CERT", (out / "ca.crt").string()}};
  CommandResult who = RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("carl (user, certificate)"), std::string::npos) << who.out;
  CommandResult submit = RunMuster(
      {"submit", "--coordinator", cluster.address(), "--name", "by-cert", "--", "/bin/true"}, 20s,
      env);
  EXPECT_EQ(submit.exit_code, 0) << submit.err;
  CommandResult admin_only = RunMuster({"admin", "audit", "--coordinator", cluster.address()},
                                       20s, env);
  EXPECT_EQ(admin_only.exit_code, 6) << admin_only.err;  // carl keeps the user role
  CommandResult list = cluster.Muster({"admin", "user", "list"});
  EXPECT_NE(list.out.find("carl"), std::string::npos);
  EXPECT_NE(list.out.find("yes"), std::string::npos) << list.out;
  // A key others may read is refused before anything is sent.
  std::filesystem::permissions(key, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  CommandResult open_key = RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(open_key.exit_code, 6) << open_key.err;
  EXPECT_NE(open_key.err.find("chmod 600"), std::string::npos) << open_key.err;
  std::filesystem::permissions(key, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::remove);
  // A new certificate replaces the old one at once; a removed user's is refused too.
  const std::filesystem::path out2 = cluster.state_dir() / "carl-cert2";
  ASSERT_EQ(cluster.Muster({"admin", "user", "cert", "carl", "--out", out2.string()}).exit_code, 0);
  CommandResult old = RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env);
  EXPECT_EQ(old.exit_code, 7) << old.out;
  EXPECT_NE(old.err.find("revoked or replaced"), std::string::npos) << old.err;
  auto env2 = env;
  env2["MUSTER_CLIENT_CERT"] = (out2 / "carl.crt").string();
  env2["MUSTER_CLIENT_KEY"] = (out2 / "carl.key").string();
  EXPECT_EQ(RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env2).exit_code, 0);
  ASSERT_EQ(cluster.Muster({"admin", "user", "remove", "carl"}).exit_code, 0);
  EXPECT_EQ(RunMuster({"whoami", "--coordinator", cluster.address()}, 20s, env2).exit_code, 7);
  // Certificates are for users that exist and are not nodes.
  CommandResult nobody = cluster.Muster({"admin", "user", "cert", "nobody", "--out", out.string()});
  EXPECT_EQ(nobody.exit_code, 4) << nobody.err;
  // Every issue is in the audit log.
  CommandResult audit = cluster.Muster({"admin", "audit", "-o", "json"});
  EXPECT_NE(audit.out.find("\"user cert\""), std::string::npos) << audit.out;
}

TEST(ClusterSecurity, AdminInitMakesTheCaTheCoordinatorThenServes) {
  TestCluster cluster({.agents = 1});
  const std::string dir = cluster.state_dir().string();
  CommandResult init = RunMuster({"admin", "init", "--state-dir", dir, "--tls-san", "DNS:coord.test"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto ca = cluster::ReadTlsFile(dir + "/tls/ca.crt");
  ASSERT_TRUE(ca.ok());
  const std::string fp = cluster::CertFingerprint(*ca).value();
  EXPECT_NE(init.out.find("CA sha256       " + fp), std::string::npos) << init.out;
  EXPECT_EQ(std::filesystem::status(dir).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  EXPECT_EQ(std::filesystem::status(dir + "/tls/ca.key").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto server = cluster::ReadCert(cluster::ReadTlsFile(dir + "/tls/server.crt").value());
  ASSERT_TRUE(server.ok());
  EXPECT_NE(std::find(server->sans.begin(), server->sans.end(), "DNS:coord.test"),
            server->sans.end());
  // Again: nothing is replaced.
  CommandResult again = RunMuster({"admin", "init", "--state-dir", dir});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already has a cluster CA"), std::string::npos) << again.out;
  // The coordinator started on it serves that CA.
  ASSERT_EQ(cluster.Start(), "");
  CommandResult who = cluster.Muster({"whoami"});
  EXPECT_EQ(who.exit_code, 0) << who.err;
  EXPECT_EQ(cluster::CertFingerprint(cluster::ReadTlsFile(dir + "/tls/ca.crt").value()).value(), fp);
}

}  // namespace
}  // namespace muster::testing
