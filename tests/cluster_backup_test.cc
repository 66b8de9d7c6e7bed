// Integration: a backup taken while jobs stream in, restored into a fresh directory, runs on.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

v1::JobSpec TrueJob() {
  v1::JobSpec spec;
  spec.set_name("streamed");
  spec.add_command("/bin/true");
  spec.set_workdir("/tmp");
  spec.mutable_resources()->set_milli_cpus(100);
  return spec;
}

TEST(ClusterBackup, ABackupTakenDuringSubmissionsRestoresEveryAcknowledgedJobAndRunsOn) {
  const std::filesystem::path backup =
      std::filesystem::temp_directory_path() / ("muster_backup_" + std::to_string(::getpid()));
  std::set<int64_t> acked_before_backup;
  std::set<int64_t> all_acked;
  std::string first_ca;
  {
    TestCluster a({.agents = 1});
    ASSERT_EQ(a.Start(), "");
    std::mutex mu;
    std::vector<int64_t> acked;
    std::atomic<bool> failed{false};
    std::thread submitter([&] {
      for (int i = 0; i < 500; ++i) {
        auto id = a.client().Submit(TrueJob());
        if (!id.ok()) {
          failed = true;
          return;
        }
        std::lock_guard lock(mu);
        acked.push_back(*id);
      }
    });
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (acked.size() >= 150 || failed) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    {  // Everything acknowledged before the backup began must be in it.
      std::lock_guard lock(mu);
      acked_before_backup.insert(acked.begin(), acked.end());
    }
    CommandResult taken = a.Muster({"admin", "backup", backup.string()});
    submitter.join();
    ASSERT_FALSE(failed);
    ASSERT_EQ(taken.exit_code, 0) << taken.err;
    EXPECT_NE(taken.out.find("TLS files (the cluster CA)"), std::string::npos) << taken.out;
    all_acked.insert(acked.begin(), acked.end());
    ASSERT_EQ(all_acked.size(), 500u);
    first_ca = ReadFile(a.state_dir() / "tls" / "ca.crt");
  }  // the first cluster is gone, as after losing its machine

  TestCluster b({.agents = 1});
  CommandResult restored =
      RunMuster({"admin", "restore", backup.string(), "--state-dir", b.state_dir().string()});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_NE(restored.out.find("epoch 1: new job ids start at 1000000000001"), std::string::npos)
      << restored.out;
  ASSERT_EQ(b.Start(), "");
  v1::ListJobsRequest req;
  req.set_include_finished(true);
  auto list = b.client().ListJobs(req);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  std::set<int64_t> present;
  for (const auto& j : list->jobs()) present.insert(j.job_id());
  for (int64_t id : acked_before_backup) EXPECT_TRUE(present.count(id)) << "job " << id << " lost";
  EXPECT_GE(present.size(), acked_before_backup.size());
  for (int64_t id : present) EXPECT_TRUE(all_acked.count(id)) << "job " << id << " invented";
  // The restored cluster runs them all, and new jobs get ids of the new epoch.
  for (int64_t id : present) {
    v1::JobInfo done = b.WaitForJob(id, 60s);
    EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << "job " << id << ": " << done.reason();
  }
  auto fresh = b.client().Submit(TrueJob());
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_GE(*fresh, 1'000'000'000'001);
  EXPECT_EQ(b.WaitForJob(*fresh, 30s).state(), v1::JOB_STATE_SUCCEEDED);
  // The restored CA is the one clients of the first cluster trusted.
  ASSERT_FALSE(first_ca.empty());
  EXPECT_EQ(ReadFile(b.state_dir() / "tls" / "ca.crt"), first_ca);
  CommandResult who = b.Muster({"whoami"});
  EXPECT_EQ(who.exit_code, 0) << who.err;
  std::filesystem::remove(backup);
}

}  // namespace
}  // namespace muster::testing
