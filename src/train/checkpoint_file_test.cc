// Tests of checkpoint files: newest wins, older ones are pruned, temporaries are ignored.
#include "train/checkpoint_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace muster::train {
namespace {

namespace fs = std::filesystem;

TEST(CheckpointFile, WritesAtomicallyAndReadsTheNewest) {
  const fs::path dir =
      fs::temp_directory_path() / ("muster_ckpt_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto none = ReadLatestCheckpoint(dir.string());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  for (int64_t step : {10, 30, 20}) {
    auto p = WriteCheckpointFile(dir.string(), step, "state@" + std::to_string(step), 2);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
  }
  // A leftover temporary from a crash mid-write must not be taken for a checkpoint.
  std::ofstream(dir / "ckpt-000000000099.pt.tmp.123") << "partial";
  auto latest = ReadLatestCheckpoint(dir.string());
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->step, 30);
  EXPECT_EQ((*latest)->bytes, "state@30");
  int finals = 0;
  for (const auto& e : fs::directory_iterator(dir)) finals += e.path().extension() == ".pt";
  EXPECT_EQ(finals, 2);  // keep = 2: step 10 pruned
  EXPECT_FALSE(fs::exists(dir / "ckpt-000000000010.pt"));
  fs::remove_all(dir);
}

TEST(CheckpointFile, TheNewestAttemptWinsOverALateWriterOfAnOlderOne) {
  const fs::path dir =
      fs::temp_directory_path() / ("muster_ckpt_attempts_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(WriteCheckpointFile(dir.string(), 50, "old@50", 3, 0).ok());  // a legacy name
  ASSERT_TRUE(WriteCheckpointFile(dir.string(), 40, "a2@40", 3, 2).ok());
  EXPECT_TRUE(fs::exists(dir / "ckpt-a000002-000000000040.pt"));
  // Attempt 1, still being stopped, writes a later step: it must not be what resume reads.
  ASSERT_TRUE(WriteCheckpointFile(dir.string(), 90, "a1@90", 3, 1).ok());
  auto latest = ReadLatestCheckpoint(dir.string());
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->attempt, 2);
  EXPECT_EQ((*latest)->step, 40);
  EXPECT_EQ((*latest)->bytes, "a2@40");
  ASSERT_TRUE(WriteCheckpointFile(dir.string(), 60, "a2@60", 3, 2).ok());
  // keep = 3 by (attempt, step): a2@60, a2@40, a1@90 stay; the legacy one goes.
  EXPECT_FALSE(fs::exists(dir / "ckpt-000000000050.pt"));
  EXPECT_TRUE(fs::exists(dir / "ckpt-a000001-000000000090.pt"));
  EXPECT_EQ((*ReadLatestCheckpoint(dir.string()))->bytes, "a2@60");
  // After a restore from a backup, attempts start above 10^6 (a longer name): still the newest.
  ASSERT_TRUE(WriteCheckpointFile(dir.string(), 10, "e1@10", 3, 1'000'001).ok());
  EXPECT_TRUE(fs::exists(dir / "ckpt-a1000001-000000000010.pt"));
  latest = ReadLatestCheckpoint(dir.string());
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->attempt, 1'000'001);
  EXPECT_EQ((*latest)->bytes, "e1@10");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace muster::train
