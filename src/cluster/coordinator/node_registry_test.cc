#include "cluster/coordinator/node_registry.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

class Link final : public AgentChannel {
 public:
  void Send(v1::CoordinatorMessage) override {}
  void Close() override { closed = true; }
  bool closed = false;
};

NodeSpec Spec(const std::string& name) {
  NodeSpec s{.name = name, .milli_cpus = 2000, .memory_mib = 1024, .gpus = {}};
  s.gpus.push_back({0, "virtual", 16384, true});
  return s;
}

TEST(NodeRegistry, OneLiveAgentPerNameAndSilentLinksAreReplaced) {
  ClusterState cluster;
  NodeRegistry r(
      {.heartbeat_interval_ms = 1000, .heartbeat_timeout_ms = 10000, .lost_node_timeout_ms = 30000},
      &cluster, 0);
  auto first = std::make_shared<Link>();
  ASSERT_TRUE(r.Register(Spec("a"), "10.0.0.1", first, 1000).ok());
  EXPECT_EQ(cluster.SchedulableViews().size(), 1u);
  auto second = std::make_shared<Link>();
  auto refused = r.Register(Spec("a"), "10.0.0.2", second, 2000);  // the first one is live
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(first->closed);
  EXPECT_EQ(r.Linked("a", second.get()), nullptr);
  // Silent for more than 3 heartbeat intervals: the newcomer takes over and the old link closes.
  auto again = r.Register(Spec("a"), "10.0.0.2", second, 5000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(first->closed);
  EXPECT_EQ(r.Linked("a", second.get()), *again);
  EXPECT_EQ((*again)->rec.address, "10.0.0.2");
  r.Disconnect(**again);
  EXPECT_TRUE(cluster.SchedulableViews().empty());
  EXPECT_EQ(r.Linked("a", second.get()), nullptr);
}

TEST(NodeRegistry, OverdueNodesAreNamedWithWhyAndMarkedLost) {
  ClusterState cluster;
  NodeRegistry r(
      {.heartbeat_interval_ms = 1000,
       .heartbeat_timeout_ms = 10000,
       .lost_node_timeout_ms = 30000,
       .fence_grace_ms = 2000},
      &cluster, 0);
  EXPECT_EQ(r.LostAfterMs(), 13000);  // lease + grace + margin (1 s)
  NodeRecord stored;
  stored.spec = Spec("old");
  r.Recover(stored);  // known from the store: 30 s from the start to come back
  auto link = std::make_shared<Link>();
  ASSERT_TRUE(r.Register(Spec("live"), "h", link, 1000).ok());
  EXPECT_TRUE(r.Overdue(14000).empty());  // live: silent for 13 s, its fence may still act
  auto due = r.Overdue(15000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].first, "live");
  EXPECT_EQ(due[0].second, "no heartbeat for 14 s; its lease and stop grace have run out");
  r.MarkLost(*r.Find("live"));
  EXPECT_TRUE(link->closed);
  EXPECT_TRUE(r.Find("live")->lost);
  due = r.Overdue(31000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].first, "old");
  EXPECT_EQ(due[0].second, "did not re-register after the coordinator restarted");
  EXPECT_TRUE(cluster.SchedulableViews().empty());
}

TEST(NodeRegistry, RestartWaitsAtLeastALeaseAndAPausedCoordinatorForgives) {
  ClusterState cluster;
  NodeRegistry r({.heartbeat_interval_ms = 1000,
                  .heartbeat_timeout_ms = 20000,
                  .lost_node_timeout_ms = 5000,
                  .fence_grace_ms = 5000},
                 &cluster, 0);
  NodeRecord stored;
  stored.spec = Spec("old");
  r.Recover(stored);
  // A node known before the restart may still run tasks until its lease and grace are over.
  EXPECT_TRUE(r.Overdue(26000).empty());
  EXPECT_EQ(r.Overdue(26001).size(), 1u);
  auto link = std::make_shared<Link>();
  ASSERT_TRUE(r.Register(Spec("live"), "h", link, 1000).ok());
  EXPECT_EQ(r.ForgiveGap(2000), 0);   // the first check
  EXPECT_EQ(r.ForgiveGap(11000), 0);  // 9 s apart: within half a lease
  // 60 s without a check: the coordinator was stopped. The node's silence restarts now.
  EXPECT_EQ(r.ForgiveGap(71000), 60000);
  EXPECT_EQ(r.Find("live")->last_contact_ms, 71000);
  auto live_due = [&](TimeMs now) {
    for (const auto& [name, why] : r.Overdue(now))
      if (name == "live") return true;
    return false;
  };
  EXPECT_FALSE(live_due(71000 + r.LostAfterMs()));
  EXPECT_TRUE(live_due(71001 + r.LostAfterMs()));
}

}  // namespace
}  // namespace muster::cluster
