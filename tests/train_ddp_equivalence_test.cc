// Data-parallel correctness: two ranks with per-rank batch b, gradients averaged by bucketed
// all-reduce over c10d::ProcessGroupGloo, must end with the same weights as one process with
// batch 2b over the same sample order. The two ranks run as threads of this test, each with its
// own TCPStore client (rank 0 serves) and its own process group on loopback. Dropout is off; the
// ranks start from different random weights, so agreement also shows rank 0's broadcast works.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <thread>

#include "train/trainer.h"
#include "train_test_util.h"

namespace muster::train {
namespace {

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(double{a[i]} - b[i]));
  return m;
}

TrainOptions Options(int64_t batch, int64_t steps, std::ostream* log) {
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = batch;
  o.max_steps = steps;
  o.dropout = false;
  o.threads = 1;
  o.seed = 42;
  o.bucket_mb = 0.25;  // several buckets for this ~1.2M-parameter model
  o.evaluate = true;
  o.keep_params = true;
  o.log = log;
  return o;
}

class DdpEquivalence : public ::testing::Test {
 protected:
  MnistSet train_ = testing::SyntheticSet(320, 1);  // 20 steps per epoch at global batch 16
  MnistSet test_ = testing::SyntheticSet(64, 2);
};

TEST_F(DdpEquivalence, TwoRanksMatchOneProcessWithDoubleBatch) {
  const int64_t steps = 24, b = 8;
  std::ostringstream log_single;
  auto single = Train(Options(2 * b, steps, &log_single), train_, test_, DistEnv{});
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  ASSERT_EQ(single->steps_done, steps);

  const uint16_t port = testing::FreePort();
  std::vector<Result<TrainReport>> out(2, Status::Internal("not run"));
  std::vector<std::ostringstream> logs(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      DistEnv env;
      env.rank = r;
      env.world_size = 2;
      env.local_world_size = 2;
      env.local_rank = r;
      env.master_addr = "127.0.0.1";
      env.master_port = port;
      TrainOptions o = Options(b, steps, &logs[r]);
      o.timeout = std::chrono::seconds(60);
      out[r] = Train(o, train_, test_, env);
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_TRUE(out[0].ok()) << out[0].status().ToString();
  ASSERT_TRUE(out[1].ok()) << out[1].status().ToString();
  EXPECT_EQ(out[0]->backend, "gloo");
  EXPECT_EQ(out[0]->global_batch, 2 * b);
  EXPECT_EQ(out[0]->steps_done, steps);
  EXPECT_GT(out[0]->buckets, 1);
  // Every rank took the same optimizer steps: bit-identical weights.
  EXPECT_EQ(MaxAbsDiff(out[0]->params, out[1]->params), 0.0);
  const double diff = MaxAbsDiff(out[0]->params, single->params);
  EXPECT_LE(diff, 1e-5) << "two ranks x batch " << b << " vs one process x batch " << 2 * b;
  // The weights did move, and training on another order would have ended elsewhere: the
  // comparison above is not trivially satisfied.
  TrainOptions other = Options(2 * b, steps, &log_single);
  other.seed = 43;
  auto different = Train(other, train_, test_, DistEnv{});
  ASSERT_TRUE(different.ok());
  EXPECT_GT(MaxAbsDiff(different->params, single->params), 1e-3);
  // The evaluation is split across ranks and summed: same numbers as one process.
  EXPECT_NEAR(out[0]->final_test_loss, single->final_test_loss, 1e-4);
  EXPECT_DOUBLE_EQ(out[0]->final_test_accuracy, single->final_test_accuracy);
  EXPECT_NE(logs[0].str().find("MUSTER_PROGRESS done=24 total=24 epoch=2"), std::string::npos) << logs[0].str();
  EXPECT_EQ(logs[1].str().find("MUSTER_PROGRESS"), std::string::npos) << "only rank 0 reports progress";
}

TEST_F(DdpEquivalence, MissingPeerIsAnErrorNotAHang) {
  DistEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = testing::FreePort();  // nobody serves it
  std::ostringstream log;
  TrainOptions o = Options(8, 2, &log);
  o.timeout = std::chrono::seconds(2);
  auto r = Train(o, train_, test_, env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot join the process group"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace muster::train
