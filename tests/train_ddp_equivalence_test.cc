// Data-parallel correctness: two ranks with per-rank batch b, gradients averaged by bucketed
// all-reduce over c10d::ProcessGroupGloo, must end with the same weights as one process with
// batch 2b over the same sample order: checked with SGD to 1e-5 and with Adam to 1e-4 (the tests'
// comments say why Adam needs the wider bound). The two ranks run as threads of this test, each
// with its own TCPStore client (rank 0 serves) and its own process group on loopback. Dropout is
// off; the ranks start from different random weights, so agreement also shows rank 0's broadcast
// works.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <thread>

#include "train/trainer.h"
#include "train_test_util.h"

namespace muster::train {
namespace {

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(double{a[i]} - b[i]));
  return m;
}

TrainOptions Options(const std::string& optimizer, int64_t batch, int64_t steps,
                     std::ostream* log) {
  TrainOptions o;
  o.optimizer = optimizer;
  o.lr = optimizer == "sgd" ? 0.01 : 1e-3;
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

// Trains 24 steps as one process with batch 2b and as two gloo ranks with batch b each, checks
// what must hold exactly, and returns max |w_2ranks - w_1process|.
double TwoRanksVersusOne(const std::string& optimizer, const MnistSet& train,
                         const MnistSet& test) {
  const int64_t steps = 24, b = 8;
  std::ostringstream log_single;
  auto single = Train(Options(optimizer, 2 * b, steps, &log_single), train, test, DistEnv{});
  EXPECT_TRUE(single.ok()) << single.status().ToString();
  if (!single.ok()) return 1;
  EXPECT_EQ(single->steps_done, steps);

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
      TrainOptions o = Options(optimizer, b, steps, &logs[r]);
      o.timeout = std::chrono::seconds(60);
      out[r] = Train(o, train, test, env);
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_TRUE(out[0].ok()) << out[0].status().ToString();
  EXPECT_TRUE(out[1].ok()) << out[1].status().ToString();
  if (!out[0].ok() || !out[1].ok()) return 1;
  EXPECT_EQ(out[0]->backend, "gloo");
  EXPECT_EQ(out[0]->global_batch, 2 * b);
  EXPECT_EQ(out[0]->steps_done, steps);
  EXPECT_GT(out[0]->buckets, 1);
  // Every rank took the same optimizer steps: bit-identical weights.
  EXPECT_EQ(MaxAbsDiff(out[0]->params, out[1]->params), 0.0);
  // The weights did move, and another data order would have ended elsewhere: the comparison
  // with the single process is not trivially satisfied.
  TrainOptions other = Options(optimizer, 2 * b, steps, &log_single);
  other.seed = 43;
  auto different = Train(other, train, test, DistEnv{});
  EXPECT_TRUE(different.ok());
  if (different.ok()) EXPECT_GT(MaxAbsDiff(different->params, single->params), 1e-3);
  // The evaluation is split across ranks and summed: same numbers as one process.
  EXPECT_NEAR(out[0]->final_test_loss, single->final_test_loss, 1e-4);
  EXPECT_NEAR(out[0]->final_test_accuracy, single->final_test_accuracy, 1.0 / test.count + 1e-12);
  EXPECT_NE(logs[0].str().find("MUSTER_PROGRESS done=24 total=24 epoch=2"), std::string::npos)
      << logs[0].str();
  EXPECT_EQ(logs[1].str().find("MUSTER_PROGRESS"), std::string::npos)
      << "only rank 0 reports progress";
  const double diff = MaxAbsDiff(out[0]->params, single->params);
  ::testing::Test::RecordProperty("max_abs_diff_" + optimizer, std::to_string(diff));
  std::printf("%s: max |w(2 ranks x %lld) - w(1 process x %lld)| = %.3g after %lld steps\n",
              optimizer.c_str(), static_cast<long long>(b), static_cast<long long>(2 * b), diff,
              static_cast<long long>(steps));
  return diff;
}

// SGD (momentum 0.9) is linear in the gradient, so any error in averaging (a missing division by
// the world size, a dropped bucket) shows at full size; float rounding stays far below 1e-5.
TEST_F(DdpEquivalence, SgdTwoRanksMatchOneProcessWithDoubleBatch) {
  EXPECT_LE(TwoRanksVersusOne("sgd", train_, test_), 1e-5);
}

// Adam divides each gradient by its running RMS, so a weight whose gradient is a near-cancelling
// sum (a few 1e-9) turns the ~1e-7 relative rounding difference between summing 2b samples at
// once and summing two halves into a visible share of one step (lr = 1e-3). Measured here:
// 1.8e-5 on this synthetic data, 4.8e-6 on the first 320 Fashion-MNIST images (SGD: 9e-8);
// bounded here at a tenth of one Adam step.
TEST_F(DdpEquivalence, AdamTwoRanksMatchOneProcessWithDoubleBatch) {
  EXPECT_LE(TwoRanksVersusOne("adam", train_, test_), 1e-4);
}

TEST_F(DdpEquivalence, MissingPeerIsAnErrorNotAHang) {
  DistEnv env;
  env.rank = 1;
  env.world_size = 2;
  env.master_port = testing::FreePort();  // nobody serves it
  std::ostringstream log;
  TrainOptions o = Options("adam", 8, 2, &log);
  o.timeout = std::chrono::seconds(2);
  auto r = Train(o, train_, test_, env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("cannot join the process group"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace muster::train
