#include "cluster/coordinator/history_export.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/store/sqlite_store.h"
#include "sim/io/trace_reader.h"

namespace muster::cluster {
namespace {

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("muster_history_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

struct JobPlan {
  JobId id;
  std::string user;
  int tasks;
  int gpus_per_task;
  int priority;
  bool checkpointable;
  TimeMs submit_ms;
  JobState final_state;
  // (start_ms, end_ms) per task; {0, 0} = never ran.
  std::vector<std::pair<TimeMs, TimeMs>> runs;
};

// Writes the job through the store's own API: insert, then task and job updates.
void Record(StateStore& store, const JobPlan& p) {
  JobSpec s;
  s.name = "job" + std::to_string(p.id);
  s.user = p.user;
  s.command = {"sleep", "1"};
  s.tasks = p.tasks;
  s.priority = p.priority;
  s.checkpointable = p.checkpointable;
  s.resources.gpus = p.gpus_per_task;
  JobRecord j;
  j.id = p.id;
  j.spec = std::make_shared<const JobSpec>(s);
  j.submit_ms = p.submit_ms;
  for (int i = 0; i < p.tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  store.InsertJob(j);
  TimeMs first = 0, last = 0;
  for (int i = 0; i < p.tasks; ++i) {
    TaskRecord t = j.tasks[static_cast<size_t>(i)];
    auto [start, end] = p.runs[static_cast<size_t>(i)];
    t.state = start == 0 ? TaskState::kCancelled
                         : (p.final_state == JobState::kFailed ? TaskState::kFailed
                                                               : TaskState::kSucceeded);
    t.start_ms = start;
    t.end_ms = end;
    store.UpdateTask(p.id, t);
    if (start > 0) first = first == 0 ? start : std::min(first, start);
    last = std::max(last, end);
  }
  j.state = p.final_state;
  j.start_ms = first;
  j.end_ms = last;
  store.UpdateJob(j);
}

std::vector<JobPlan> SampleJobs() {
  const TimeMs t0 = 1'700'000'000'000;
  return {
      // A 2-task job: duration runs from the earliest start to the latest end (95.5 s).
      {1,
       "alice",
       2,
       2,
       0,
       false,
       t0,
       JobState::kSucceeded,
       {{t0 + 1000, t0 + 90'000}, {t0 + 2000, t0 + 96'500}}},
      // Cancelled after running: skipped.
      {2, "bob", 1, 1, 0, false, t0 + 5000, JobState::kCancelled, {{t0 + 6000, t0 + 7000}}},
      // Failed after running 12.25 s: exported.
      {3, "bob", 1, 4, 5, true, t0 + 10'500, JobState::kFailed, {{t0 + 11'000, t0 + 23'250}}},
      // Failed without ever starting (e.g. a failed dependency): skipped.
      {4, "carol", 1, 1, 0, false, t0 + 12'000, JobState::kFailed, {{0, 0}}},
      // CPU-only: skipped, the simulator models GPU jobs.
      {5, "carol", 1, 0, 0, false, t0 + 13'000, JobState::kSucceeded, {{t0 + 13'500, t0 + 14'000}}},
      // Still running: skipped.
      {6, "dave", 1, 1, 0, false, t0 + 14'000, JobState::kRunning, {{t0 + 14'500, 0}}},
      // A user name with a comma is made CSV-safe.
      {7, "e,ve", 1, 1, -2, false, t0 + 20'000, JobState::kSucceeded, {{t0 + 20'000, t0 + 21'000}}},
  };
}

std::string StoreWithSampleJobs(const std::string& name) {
  std::string dir = TempDir(name);
  auto store = SqliteStore::Open(dir + "/" + kStoreFileName);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  for (const JobPlan& p : SampleJobs()) Record(**store, p);
  EXPECT_TRUE((*store)->Flush().ok());
  return dir;
}

TEST(HistoryExport, ExportsFinishedJobsAndTheSimulatorReadsThem) {
  std::string dir = StoreWithSampleJobs("export");
  auto path = FindStoreFile(dir);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  auto h = ReadJobHistory(*path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->rows.size(), 3u);
  EXPECT_EQ(h->rows[0].job, 1);
  EXPECT_EQ(h->rows[0].duration_ms, 95'500);
  EXPECT_EQ(h->rows[0].gpus, 4);
  EXPECT_EQ(h->rows[1].job, 3);
  EXPECT_EQ(h->rows[1].duration_ms, 12'250);
  EXPECT_EQ(h->rows[1].gpus, 4);
  EXPECT_EQ(h->rows[2].user, "e_ve");
  EXPECT_EQ(h->skipped_cancelled, 1);
  EXPECT_EQ(h->skipped_never_started, 1);
  EXPECT_EQ(h->skipped_no_gpus, 1);
  EXPECT_EQ(h->skipped_unfinished, 1);

  std::ostringstream csv;
  WriteHistoryCsv(h->rows, csv);
  EXPECT_EQ(csv.str(),
            "submit_time_s,duration_s,gpus,user,priority,checkpointable\n"
            "0.000,95.500,4,alice,0,0\n"
            "10.500,12.250,4,bob,5,1\n"
            "20.000,1.000,1,e_ve,-2,0\n");

  std::istringstream in(csv.str());
  auto read = sim::io::ParseTrace(in, sim::io::TraceFormat::kCsv);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->bad_rows.empty());
  ASSERT_EQ(read->workload.jobs.size(), 3u);
  const auto& j = read->workload.jobs[1];
  EXPECT_EQ(j.submit_ms, 10'500);
  EXPECT_EQ(j.duration_ms, 12'250);
  EXPECT_EQ(j.gpus, 4);
  EXPECT_EQ(j.priority, 5);
  EXPECT_TRUE(j.checkpointable);
  EXPECT_EQ(read->workload.users[static_cast<size_t>(j.user)], "bob");
  std::filesystem::remove_all(dir);
}

TEST(HistoryExport, SinceFiltersBySubmitTimeAndTimesAreRelativeToTheFirstExported) {
  std::string dir = StoreWithSampleJobs("since");
  auto h = ReadJobHistory(dir + "/" + kStoreFileName, {.since_ms = 1'700'000'000'000 + 10'000});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->rows.size(), 2u);
  EXPECT_EQ(h->skipped_before_since, 1);
  std::ostringstream csv;
  WriteHistoryCsv(h->rows, csv);
  EXPECT_NE(csv.str().find("\n0.000,12.250,4,bob"), std::string::npos) << csv.str();
  EXPECT_NE(csv.str().find("\n9.500,1.000,1,e_ve"), std::string::npos) << csv.str();
  std::filesystem::remove_all(dir);
}

TEST(HistoryExport, ReadsWhileTheStoreIsOpenAndFindsUpStateDirs) {
  std::string dir = TempDir("live");
  std::filesystem::create_directories(dir + "/coordinator");
  auto store = SqliteStore::Open(dir + "/coordinator/" + kStoreFileName);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Record(**store, SampleJobs()[0]);
  ASSERT_TRUE((*store)->Flush().ok());
  auto path = FindStoreFile(dir);  // a `muster up` state dir
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  auto h = ReadJobHistory(*path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->rows.size(), 1u);
  // The store keeps working after the read-only reader is gone.
  Record(**store, SampleJobs()[2]);
  ASSERT_TRUE((*store)->Flush().ok());
  h = ReadJobHistory(*path);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rows.size(), 2u);
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST(HistoryExport, ClearErrors) {
  std::string dir = TempDir("errors");
  auto missing = FindStoreFile(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("coordinator/state.db"), std::string::npos);
  EXPECT_EQ(ReadJobHistory(dir + "/nothing.db").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir + "/nothing.db"));  // read-only: never created

  { ASSERT_TRUE(SqliteStore::Open(dir + "/" + kStoreFileName).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/" + kStoreFileName).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = ReadJobHistory(dir + "/" + kStoreFileName);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("schema version 99"), std::string::npos);

  {
    std::ofstream junk(dir + "/junk.db");
    junk << "this is not a database, just text that is long enough to have a header";
  }
  EXPECT_FALSE(ReadJobHistory(dir + "/junk.db").ok());
  std::filesystem::remove_all(dir);
}

TEST(HistoryExport, LockedStoreIsReportedAsLocked) {
  std::string dir = TempDir("locked");
  { ASSERT_TRUE(SqliteStore::Open(dir + "/" + kStoreFileName).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/" + kStoreFileName).c_str(), &db), SQLITE_OK);
  // Exclusive locking mode plus a write keeps an exclusive lock that WAL readers cannot pass.
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  auto h = ReadJobHistory(dir + "/" + kStoreFileName);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(h.status().message().find("locked"), std::string::npos) << h.status().message();
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace muster::cluster
