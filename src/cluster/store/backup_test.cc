#include "cluster/store/backup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/store/sqlite_store.h"

namespace muster::cluster {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  auto dir =
      fs::temp_directory_path() / ("muster_backup_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

JobRecord MakeJob(JobId id) {
  JobSpec s;
  s.name = "job" + std::to_string(id);
  s.command = {"true"};
  JobRecord j;
  j.id = id;
  j.spec = std::make_shared<const JobSpec>(s);
  j.tasks.push_back(TaskRecord{});
  return j;
}

void WriteFile(const std::string& path, const std::string& text, unsigned mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Backup, AnOnlineCopyHoldsEveryCommittedWriteAndTheTlsFiles) {
  const std::string dir = TempDir("online");
  fs::create_directories(dir + "/tls");
  WriteFile(dir + "/tls/ca.key", "secret key", 0600);
  WriteFile(dir + "/tls/ca.crt", "public cert", 0644);
  auto store = SqliteStore::Open(dir + "/" + kStoreFileName);
  ASSERT_TRUE(store.ok());
  for (JobId id = 1; id <= 50; ++id)
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(id))).ok());
  ASSERT_TRUE((*store)->Wait((*store)->UpsertUser({"ann", "admin", "h", 1, ""})).ok());
  // Writes go on while the copy is taken; what was committed before it began is all in it.
  std::atomic<bool> stop{false};
  std::atomic<JobId> committed{50};
  std::thread writer([&] {
    for (JobId id = 51; !stop && id < 100000; ++id)
      if ((*store)->Wait((*store)->InsertJob(MakeJob(id))).ok()) committed = id;
  });
  while (committed < 80) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const JobId before = committed;
  auto info = WriteBackup(dir, dir + "/backup.db");
  stop = true;
  writer.join();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_GE(info->jobs, before);
  EXPECT_EQ(info->epoch, 0);
  EXPECT_EQ(info->files, (std::vector<std::string>{"ca.crt", "ca.key"}));
  struct stat st {};
  ASSERT_EQ(stat((dir + "/backup.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(dir + "/backup.db-wal"));  // one self-contained file
  auto again = ReadBackupInfo(dir + "/backup.db");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->jobs, info->jobs);

  // Restored into a new directory: the jobs, the users, the TLS files with their modes, and a
  // new epoch whose ids start far above the old ones.
  const std::string fresh = TempDir("online_restored") + "/state";
  auto restored = RestoreBackup(dir + "/backup.db", fresh);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->epoch, 1);
  EXPECT_EQ(restored->next_job_id, kEpochJobIdBase + 1);
  EXPECT_EQ(ReadFile(fresh + "/tls/ca.key"), "secret key");
  ASSERT_EQ(stat((fresh + "/tls/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto reopened = SqliteStore::Open(fresh + "/" + kStoreFileName);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto all = (*reopened)->LoadAll();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(static_cast<int64_t>(all->jobs.size()), info->jobs);
  for (JobId id = 1; id <= before; ++id) EXPECT_EQ(all->jobs[id - 1].id, id);
  EXPECT_EQ(all->epoch, 1);
  EXPECT_EQ(all->next_job_id, kEpochJobIdBase + 1);
  ASSERT_EQ(all->users.size(), 1u);

  // Not over an existing state, and not from a file that is not a backup.
  auto twice = RestoreBackup(dir + "/backup.db", fresh);
  EXPECT_EQ(twice.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.status().message().find("already holds a state"), std::string::npos);
  auto not_backup = RestoreBackup(dir + "/" + kStoreFileName, TempDir("other") + "/s");
  EXPECT_EQ(not_backup.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(not_backup.status().message().find("is not a muster backup"), std::string::npos);
  WriteFile(dir + "/garbage", "not a database at all", 0600);
  EXPECT_FALSE(RestoreBackup(dir + "/garbage", TempDir("garbage") + "/s").ok());
}

TEST(Backup, ASecondRestoreIsASecondEpoch) {
  const std::string dir = TempDir("epochs");
  {
    auto store = SqliteStore::Open(dir + "/" + kStoreFileName);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Wait((*store)->InsertJob(MakeJob(3))).ok());
  }
  ASSERT_TRUE(WriteBackup(dir, dir + "/b1").ok());
  const std::string one = TempDir("epochs_1");
  ASSERT_TRUE(RestoreBackup(dir + "/b1", one).ok());
  auto b2 = WriteBackup(one, one + "/b2");
  ASSERT_TRUE(b2.ok()) << b2.status().ToString();
  EXPECT_EQ(b2->epoch, 1);
  auto two = RestoreBackup(one + "/b2", TempDir("epochs_2") + "/s");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->epoch, 2);
  EXPECT_EQ(two->next_job_id, 2 * kEpochJobIdBase + 1);
}

}  // namespace
}  // namespace muster::cluster
