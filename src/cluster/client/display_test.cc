#include "cluster/client/display.h"

#include <gtest/gtest.h>

#include "cluster/common/convert.h"

namespace muster::client {
namespace {

TEST(Display, RelativeTimes) {
  const int64_t now = 1'000'000'000;
  EXPECT_EQ(FormatRelative(0, now), "-");
  EXPECT_EQ(FormatRelative(now + 400, now), "now");
  EXPECT_EQ(FormatRelative(now + 3 * 60'000, now), "in 3m");
  EXPECT_EQ(FormatRelative(now - 5'000, now), "5s ago");
  EXPECT_EQ(FormatRelative(now + 80 * 60'000, now), "in 1h20m");
  EXPECT_EQ(FormatRelative(now - 27 * 3'600'000LL, now), "1d3h ago");
  EXPECT_EQ(FormatDurationShort(2 * 3'600'000), "2h");
}

TEST(Display, ProgressBarClampsAndFills) {
  EXPECT_EQ(ProgressBar(0.5, 10), "[#####.....]");
  EXPECT_EQ(ProgressBar(1.7, 4), "[####]");
  EXPECT_EQ(ProgressBar(-1, 4), "[....]");
}

TEST(Display, ProgressLineShowsFractionAndKnownKeysFirst) {
  v1::Progress p;
  p.set_done(250);
  p.set_total(1000);
  (*p.mutable_fields())["zeta"] = "1";
  (*p.mutable_fields())["loss"] = "0.31";
  (*p.mutable_fields())["epoch"] = "2";
  (*p.mutable_fields())["done"] = "250";
  EXPECT_EQ(FormatProgress(p, 8), "[##......]  25%  250/1000 epoch=2 loss=0.31 zeta=1");
  EXPECT_EQ(FormatProgress(v1::Progress()), "");
}

TEST(Display, TaskCountsInLifecycleOrder) {
  v1::JobInfo j;
  (*j.mutable_task_state_counts())["succeeded"] = 37;
  (*j.mutable_task_state_counts())["pending"] = 55;
  (*j.mutable_task_state_counts())["running"] = 8;
  EXPECT_EQ(FormatTaskCounts(j), "8 running, 55 pending, 37 succeeded");
  EXPECT_EQ(TaskTotal(j), 100);
}

TEST(Display, TableAlignsColumns) {
  TextTable t({"ID", "NAME"});
  t.AddRow({"1", "train"});
  t.AddRow({"12345", "x"});
  EXPECT_EQ(t.Render(), "ID     NAME\n1      train\n12345  x\n");
}

TEST(Display, RequestAndMemory) {
  v1::ResourceRequest r;
  r.set_milli_cpus(1500);
  r.set_memory_mib(4096);
  r.set_gpus(2);
  r.set_min_gpu_memory_mib(16384);
  r.set_gpu_model("H100");
  EXPECT_EQ(FormatRequest(r), "cpu=1.5 mem=4G gpus=2 (>=16G, model H100)");
  EXPECT_EQ(FormatMiB(1000), "1000M");
  EXPECT_EQ(FormatMiB(32256), "31.5G");
}

TEST(Display, JsonUsesNumbersForIds) {
  v1::JobInfo j;
  j.set_job_id(42);
  j.set_state(v1::JOB_STATE_RUNNING);
  j.mutable_spec()->set_name("n");
  j.mutable_spec()->mutable_array()->set_first(3);
  j.mutable_spec()->mutable_array()->set_last(3);
  auto* t = j.add_tasks();
  t->set_index(3);
  t->set_state(v1::TASK_STATE_LAUNCHING);
  t->add_gpus(1);
  auto js = ToJson(j);
  EXPECT_EQ(js["job_id"], 42);
  EXPECT_EQ(js["state"], "running");  // the REST API's and -o json's names, not the enum's
  EXPECT_EQ(js["tasks"][0]["state"], "launching");
  EXPECT_EQ(js["spec"]["array"], "3-3");
  EXPECT_EQ(js["tasks"][0]["index"], 3);
  EXPECT_EQ(js["tasks"][0]["gpus"][0], 1);
  EXPECT_TRUE(js["tasks"][0]["progress"].is_null());
}

}  // namespace
}  // namespace muster::client
