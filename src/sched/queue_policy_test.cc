#include "sched/queue_policy.h"

#include <gtest/gtest.h>

#include "sched/placement_test_util.h"
#include "sched/queue_fairshare.h"

namespace muster::sched {
namespace {

using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

std::vector<JobId> Ids(const ClusterSnapshot& s, const std::vector<int>& order) {
  std::vector<JobId> out;
  for (int i : order) out.push_back(s.queue[i].id);
  return out;
}

PendingJob With(PendingJob j, TimeMs submitted, int priority, DurationMs duration,
                const std::string& user = "u") {
  auto spec = std::const_pointer_cast<JobSpec>(j.spec);
  spec->priority = priority;
  spec->user = user;
  j.submitted_ms = submitted;
  j.predicted_duration_ms = duration;
  return j;
}

ClusterSnapshot Queue() {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4)};
  s.queue = {With(Job(1, 1, Req(1000, 100, 1), 0), 30, 0, 500),
             With(Job(2, 1, Req(1000, 100, 1), 0), 10, 5, 900),
             With(Job(3, 1, Req(1000, 100, 1), 0), 20, 5, 100),
             With(Job(4, 1, Req(1000, 100, 1), 0), 10, 1, 100)};
  return s;
}

std::vector<JobId> OrderBy(const std::string& name, const ClusterSnapshot& s) {
  auto p = QueuePolicyRegistry::Default().Make(name);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->name(), name);
  return Ids(s, (*p)->Order(s));
}

TEST(QueuePolicy, FifoBySubmissionThenId) {
  EXPECT_EQ(OrderBy("fifo", Queue()), (std::vector<JobId>{2, 4, 3, 1}));
}

TEST(QueuePolicy, PriorityFirstThenFifo) {
  EXPECT_EQ(OrderBy("priority", Queue()), (std::vector<JobId>{2, 3, 4, 1}));
}

TEST(QueuePolicy, ShortestPredictedFirst) {
  EXPECT_EQ(OrderBy("sjf", Queue()), (std::vector<JobId>{4, 3, 1, 2}));
}

TEST(QueuePolicy, FairShareInterleavesUsersByDominantShare) {
  ClusterSnapshot s;
  s.nodes = {Node("n0", 16000, 64000, 4)};  // 4 GPUs: one GPU is a 0.25 dominant share
  // alice submitted three jobs first; bob two later; carol already holds half the cluster.
  s.queue = {With(Job(1, 1, Req(1000, 100, 1), 0), 1, 0, 0, "alice"),
             With(Job(2, 1, Req(1000, 100, 1), 0), 2, 0, 0, "alice"),
             With(Job(3, 1, Req(1000, 100, 1), 0), 3, 0, 0, "alice"),
             With(Job(4, 1, Req(1000, 100, 1), 0), 4, 0, 0, "bob"),
             With(Job(5, 1, Req(1000, 100, 1), 0), 5, 0, 0, "bob"),
             With(Job(6, 1, Req(1000, 100, 1), 0), 6, 0, 0, "carol")};
  s.queue[5].user_dominant_share = 0.5;
  // alice 0 -> .25, bob 0 -> .25, alice .25 -> .5, bob .25 -> .5, then alice (.5, name) before
  // carol (.5): names break ties.
  EXPECT_EQ(OrderBy("fairshare", s), (std::vector<JobId>{1, 4, 2, 5, 3, 6}));
}

TEST(QueuePolicy, DominantShareTakesTheScarcestResource) {
  ScalarResources cap{10000, 1000, 4};
  EXPECT_DOUBLE_EQ(DominantShare(Req(1000, 100, 1), 2, cap), 0.5);  // GPUs dominate
  EXPECT_DOUBLE_EQ(DominantShare(Req(5000, 100, 0), 1, cap), 0.5);  // CPU dominates
  EXPECT_DOUBLE_EQ(DominantShare(Req(0, 0, 0), 3, cap), 0.0);
}

TEST(QueuePolicy, RegistryIsAValue) {
  QueuePolicyRegistry r = QueuePolicyRegistry::Default();
  EXPECT_EQ(r.Names(), (std::vector<std::string>{"fairshare", "fifo", "priority", "sjf"}));
  EXPECT_EQ(r.Make("lottery").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Add("fifo", nullptr).code(), StatusCode::kAlreadyExists);
  class Reverse final : public QueuePolicy {
   public:
    std::string_view name() const override { return "reverse"; }
    std::vector<int> Order(const ClusterSnapshot& s) const override {
      std::vector<int> o;
      for (int i = static_cast<int>(s.queue.size()) - 1; i >= 0; --i) o.push_back(i);
      return o;
    }
  };
  ASSERT_TRUE(r.Add("reverse", [] { return std::make_unique<Reverse>(); }).ok());
  auto p = r.Make("reverse");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Ids(Queue(), (*p)->Order(Queue())), (std::vector<JobId>{4, 3, 2, 1}));
  // The default registry is unaffected.
  EXPECT_FALSE(QueuePolicyRegistry::Default().Make("reverse").ok());
}

}  // namespace
}  // namespace muster::sched
