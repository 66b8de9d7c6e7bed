// Leadership over a real PostgreSQL server (PostgresTestServer): terms, lease expiry on the
// database's clock, resignation, and the fence that refuses a deposed leader's writes.
#include "cluster/store/leadership.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cluster/store/postgres_store.h"
#include "cluster/store/postgres_test_fixture.h"
#include "cluster/store/store_test_util.h"

namespace muster::cluster {
namespace {

class LeadershipTest : public PostgresServerTest {
 protected:
  std::unique_ptr<Leadership> Open(const std::string& holder) {
    auto l = Leadership::Open(server().url(), holder, holder + ":7070");
    EXPECT_TRUE(l.ok()) << l.status().message();
    return l.ok() ? std::move(l).value() : nullptr;
  }
  std::unique_ptr<PostgresStore> Store(int64_t term) {
    auto s = PostgresStore::Open(server().url(), StoreOptions{.leader_term = term});
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
};

TEST_F(LeadershipTest, OneHolderLeadsUntilItsLeaseExpiresThenTheNextTermIsAnothers) {
  auto a = Open("a"), b = Open("b");
  ASSERT_TRUE(a && b);
  // Leases long enough that a loaded machine takes no longer between two calls.
  constexpr int64_t kLease = 3000;
  auto first = a->TryLead(kLease);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, 1);
  auto refused = b->TryLead(kLease);
  ASSERT_TRUE(refused.ok()) << refused.status().message();
  EXPECT_FALSE(refused->has_value());
  auto who = b->Current();
  ASSERT_TRUE(who.ok()) << who.status().message();
  EXPECT_EQ(who->term, 1);
  EXPECT_EQ(who->holder, "a");
  EXPECT_EQ(who->address, "a:7070");
  EXPECT_GT(who->expires_in_ms, 0);
  EXPECT_LE(who->expires_in_ms, kLease);
  // Renewing keeps it; a renewal of a term that is not the caller's is refused.
  EXPECT_TRUE(a->Renew(1, kLease).ok());
  EXPECT_EQ(b->Renew(1, kLease).code(), StatusCode::kFailedPrecondition);

  std::this_thread::sleep_for(std::chrono::milliseconds(kLease + 200));
  auto second = b->TryLead(kLease);
  ASSERT_TRUE(second.ok()) << second.status().message();
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ(**second, 2);
  Status late = a->Renew(1, kLease);
  EXPECT_EQ(late.code(), StatusCode::kFailedPrecondition) << late.ToString();
  EXPECT_NE(late.message().find("deposed"), std::string::npos) << late.message();
  auto now = a->Current();
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->holder, "b");
}

TEST_F(LeadershipTest, AResignedLeaseIsTakenAtOnceAndResigningATermTakenOverChangesNothing) {
  auto a = Open("a"), b = Open("b");
  ASSERT_TRUE(a && b);
  auto t1 = a->TryLead(60000);
  ASSERT_TRUE(t1.ok() && t1->has_value());
  ASSERT_TRUE(a->Resign(**t1).ok());
  auto t2 = b->TryLead(60000);
  ASSERT_TRUE(t2.ok()) << t2.status().message();
  ASSERT_TRUE(t2->has_value());
  EXPECT_EQ(**t2, **t1 + 1);
  ASSERT_TRUE(a->Resign(**t1).ok());  // a's term is over: b's lease stands
  auto who = a->Current();
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->holder, "b");
  EXPECT_GT(who->expires_in_ms, 50000);
  // Opening again (a restarted coordinator) keeps the row as it is.
  auto c = Open("c");
  ASSERT_TRUE(c);
  auto refused = c->TryLead(1000);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->has_value());
  // The holder takes its own lease again at once (it stepped down, or lost a reply): a new term.
  auto again = b->TryLead(60000);
  ASSERT_TRUE(again.ok()) << again.status().message();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(**again, **t2 + 1);
}

TEST_F(LeadershipTest, TheDatabaseRefusesTheWritesOfADeposedLeadersStore) {
  auto a = Open("a"), b = Open("b");
  ASSERT_TRUE(a && b);
  auto t1 = a->TryLead(60000);
  ASSERT_TRUE(t1.ok() && t1->has_value());
  auto old_store = Store(**t1);
  ASSERT_TRUE(old_store);
  ASSERT_TRUE(old_store->Wait(old_store->InsertJob(MakeStoreTestJob(1, 1))).ok());

  ASSERT_TRUE(a->Resign(**t1).ok());
  auto t2 = b->TryLead(60000);
  ASSERT_TRUE(t2.ok() && t2->has_value());
  // Both writes of a batch of the old term fail, the whole batch, and none is stored.
  auto first = old_store->InsertJob(MakeStoreTestJob(2, 1));
  auto second = old_store->InsertJob(MakeStoreTestJob(3, 1));
  Status refused = old_store->Wait(first);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("deposed"), std::string::npos) << refused.message();
  EXPECT_EQ(old_store->Wait(second).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(old_store->LastWriteError().code(), StatusCode::kFailedPrecondition);

  auto new_store = Store(**t2);
  ASSERT_TRUE(new_store);
  ASSERT_TRUE(new_store->Wait(new_store->InsertJob(MakeStoreTestJob(4, 1))).ok());
  auto all = new_store->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().message();
  std::vector<JobId> ids;
  for (const auto& j : all->jobs) ids.push_back(j.id);
  EXPECT_EQ(ids, (std::vector<JobId>{1, 4}));
  // A store without a term (one coordinator, no election) is not fenced.
  auto plain = Store(0);
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->Wait(plain->InsertJob(MakeStoreTestJob(5, 1))).ok());
}

}  // namespace
}  // namespace muster::cluster
