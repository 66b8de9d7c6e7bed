#include "cluster/coordinator/identity.h"

#include <gtest/gtest.h>

#include <set>

#include "cluster/store/memory_store.h"

namespace muster::cluster {
namespace {

class IdentityTest : public ::testing::Test {
 protected:
  Authenticator Make(AuthOptions o = {.owner_uid = 1000}) { return Authenticator(o, &store_, &clock_); }
  MemoryStore store_;
  ManualClock clock_;
};

TEST(Tokens, AreRandomAndHashedToHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t = NewToken();
    EXPECT_EQ(t.size(), 4u + 64u);
    EXPECT_EQ(t.rfind("mst_", 0), 0u);
    EXPECT_TRUE(seen.insert(t).second);
  }
  // SHA-256 of "abc" (FIPS 180-2 test vector).
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Tokens, PrincipalNames) {
  for (const char* ok : {"alice", "node-7", "a.b_c", "x"}) EXPECT_TRUE(ValidPrincipalName(ok)) << ok;
  for (const char* bad : {"", "-x", ".hidden", "a b", "a/b", "é", "a;rm"})
    EXPECT_FALSE(ValidPrincipalName(bad)) << bad;
  EXPECT_FALSE(ValidPrincipalName(std::string(65, 'a')));
}

TEST_F(IdentityTest, LocalCallersByUid) {
  Authenticator auth = Make();
  auto owner = auth.IssueLocalSession(1000, "alice");
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(owner->second.role, Role::kAdmin);
  auto root = auth.IssueLocalSession(0, "root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->second.role, Role::kAdmin);
  auto other = auth.IssueLocalSession(1001, "bob");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("--allow-local-users"), std::string::npos);

  // The session token names the caller the kernel identified.
  auto c = auth.FromToken(owner->first);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "alice");
  EXPECT_EQ(c->uid, 1000);
  EXPECT_EQ(c->via, "local uid 1000");
}

TEST_F(IdentityTest, OtherLocalUsersAreUsersWhenAllowed) {
  Authenticator auth = Make({.owner_uid = 1000, .allow_local_users = true});
  auto bob = auth.IssueLocalSession(1001, "bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->second.role, Role::kUser);
  auto nameless = auth.IssueLocalSession(1234, "");
  ASSERT_TRUE(nameless.ok());
  EXPECT_EQ(nameless->second.name, "uid1234");
  // An admin may make a local user a viewer (or an admin) by name.
  ASSERT_TRUE(auth.AddUser("bob", Role::kViewer).ok());
  auto again = auth.IssueLocalSession(1001, "bob");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->second.role, Role::kViewer);
  // A change to the user applies to sessions already handed out, at once.
  EXPECT_EQ(auth.FromToken(bob->first)->role, Role::kViewer);
  ASSERT_TRUE(auth.RemoveUser("bob").ok());
  EXPECT_EQ(auth.FromToken(again->first)->role, Role::kUser);
  ASSERT_TRUE(auth.AddUser("bob", Role::kAdmin).ok());
  EXPECT_EQ(auth.FromToken(again->first)->role, Role::kAdmin);
  ASSERT_TRUE(auth.RemoveUser("bob").ok());
  EXPECT_EQ(auth.FromToken(again->first)->role, Role::kUser);
}

TEST_F(IdentityTest, OneLocalUserCannotCrowdOutTheOthers) {
  Authenticator auth = Make({.owner_uid = 1000, .allow_local_users = true, .max_sessions = 100,
                             .max_sessions_per_uid = 4});
  auto owner = auth.IssueLocalSession(1000, "alice");
  ASSERT_TRUE(owner.ok());
  std::vector<std::string> flood;
  for (int i = 0; i < 500; ++i) flood.push_back(auth.IssueLocalSession(1001, "bob")->first);
  EXPECT_TRUE(auth.FromToken(owner->first).ok());   // alice's session survived
  EXPECT_TRUE(auth.FromToken(flood.back()).ok());   // bob's newest works
  EXPECT_FALSE(auth.FromToken(flood.front()).ok());  // his oldest were dropped
}

TEST_F(IdentityTest, SessionsExpire) {
  Authenticator auth = Make({.owner_uid = 1000, .session_ttl_ms = 1000});
  auto s = auth.IssueLocalSession(1000, "alice");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(auth.FromToken(s->first).ok());
  clock_.Advance(1001);
  auto late = auth.FromToken(s->first);
  EXPECT_EQ(late.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(IdentityTest, UsersAreStoredAndTokensRotate) {
  Authenticator auth = Make();
  auto t = auth.AddUser("carol", Role::kUser);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(auth.FromToken(*t)->name, "carol");
  EXPECT_EQ(auth.AddUser("carol", Role::kAdmin).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(auth.AddUser("bad name", Role::kUser).status().code(), StatusCode::kInvalidArgument);
  // Only the hash is stored.
  auto stored = store_.Contents().users;
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].token_hash, HashToken(*t));
  EXPECT_EQ(stored[0].role, "user");

  auto t2 = auth.RotateUser("carol");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(auth.FromToken(*t).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth.FromToken(*t2).ok());
  EXPECT_EQ(store_.Contents().users[0].token_hash, HashToken(*t2));

  // A restarted coordinator loads them.
  Authenticator reloaded = Make();
  reloaded.Load(store_.Contents().users);
  EXPECT_EQ(reloaded.FromToken(*t2)->name, "carol");

  ASSERT_TRUE(auth.RemoveUser("carol").ok());
  EXPECT_FALSE(auth.FromToken(*t2).ok());
  EXPECT_TRUE(store_.Contents().users.empty());
  EXPECT_EQ(auth.RemoveUser("carol").code(), StatusCode::kNotFound);
}

TEST_F(IdentityTest, AChangeTheStoreLostIsNotMade) {
  Authenticator auth = Make();
  auto t = auth.AddUser("dave", Role::kUser);
  ASSERT_TRUE(t.ok());
  store_.FailWrites(Status::Unavailable("disk full"));
  EXPECT_FALSE(auth.AddUser("erin", Role::kUser).ok());
  EXPECT_FALSE(auth.RotateUser("dave").ok());
  EXPECT_FALSE(auth.RemoveUser("dave").ok());
  store_.Heal();
  EXPECT_TRUE(auth.FromToken(*t).ok());  // dave's token still works: nothing changed
  EXPECT_EQ(auth.Users().size(), 1u);
}

TEST_F(IdentityTest, MalformedAndUnknownTokens) {
  Authenticator auth = Make();
  for (const std::string& bad : {std::string(), std::string("x"), std::string("mst_zz"),
                                 "mst_" + std::string(64, '0')})
    EXPECT_EQ(auth.FromToken(bad).status().code(), StatusCode::kUnauthenticated) << bad;
}

TEST_F(IdentityTest, JoinTokensWorkOnceForTheirNodeAndExpire) {
  Authenticator auth = Make();
  std::string any = auth.CreateJoinToken("", 60000).value();
  std::string for7 = auth.CreateJoinToken("node7", 60000).value();
  std::string soon = auth.CreateJoinToken("", 1000).value();
  EXPECT_EQ(any.rfind("mstj_", 0), 0u);
  std::string again7 = auth.CreateJoinToken("node7", 60000).value();
  EXPECT_EQ(auth.ConsumeJoinToken(for7, "node8").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.ConsumeJoinToken(for7, "node7").status().code(),
            StatusCode::kUnauthenticated);  // spent by the refused try
  auto bound = auth.ConsumeJoinToken(again7, "node7");
  ASSERT_TRUE(bound.ok());
  EXPECT_TRUE(*bound);
  auto free_name = auth.ConsumeJoinToken(any, "node9");
  ASSERT_TRUE(free_name.ok());
  EXPECT_FALSE(*free_name);
  EXPECT_EQ(auth.ConsumeJoinToken(any, "node9").status().code(), StatusCode::kUnauthenticated);
  clock_.Advance(1001);
  EXPECT_EQ(auth.ConsumeJoinToken(soon, "node1").status().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(auth.FromToken(any).ok());  // never a bearer token
}

TEST_F(IdentityTest, JoinTokensSurviveARestartUntilUsedOrExpired) {
  Authenticator auth = Make();
  std::string kept = auth.CreateJoinToken("node3", 60000).value();
  std::string used = auth.CreateJoinToken("", 60000).value();
  ASSERT_TRUE(auth.ConsumeJoinToken(used, "node4").ok());
  // A restarted coordinator reads what the store holds: the unused token, not the used one.
  Authenticator again = Make();
  again.LoadJoinTokens(store_.Contents().join_tokens);
  EXPECT_EQ(store_.Contents().join_tokens.size(), 1u);
  EXPECT_EQ(again.ConsumeJoinToken(used, "node4").status().code(), StatusCode::kUnauthenticated);
  auto bound = again.ConsumeJoinToken(kept, "node3");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  EXPECT_TRUE(*bound);
  EXPECT_TRUE(store_.Contents().join_tokens.empty());
  // A token the store cannot keep is not made, and one it cannot forget is not used.
  store_.FailWrites(Status::Unavailable("disk full"));
  EXPECT_FALSE(auth.CreateJoinToken("", 60000).ok());
  store_.Heal();
  std::string last = auth.CreateJoinToken("", 60000).value();
  store_.FailWrites(Status::Unavailable("disk full"));
  EXPECT_FALSE(auth.ConsumeJoinToken(last, "node5").ok());
  store_.Heal();
  EXPECT_TRUE(auth.ConsumeJoinToken(last, "node5").ok());
}

TEST_F(IdentityTest, ANodeCertificateCountsUntilItIsReplacedOrRemoved) {
  Authenticator auth = Make();
  ASSERT_TRUE(auth.EnrollNode("node7", "aa", false).ok());
  auto c = auth.FromCertificate("node7", "aa");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->role, Role::kAgent);
  EXPECT_EQ(c->via, "certificate");
  EXPECT_FALSE(auth.FromCertificate("node7", "bb").ok());
  EXPECT_FALSE(auth.FromCertificate("node8", "aa").ok());
  // An any-name token cannot take a joined node's name; one made for it can.
  EXPECT_EQ(auth.EnrollNode("node7", "bb", false).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(auth.FromCertificate("node7", "aa").ok());
  ASSERT_TRUE(auth.EnrollNode("node7", "bb", true).ok());  // joined again
  EXPECT_FALSE(auth.FromCertificate("node7", "aa").ok());
  EXPECT_TRUE(auth.FromCertificate("node7", "bb").ok());
  ASSERT_TRUE(auth.RemoveUser("node7").ok());  // revoked
  EXPECT_FALSE(auth.FromCertificate("node7", "bb").ok());
  ASSERT_TRUE(auth.AddUser("alice", Role::kUser).ok());
  EXPECT_EQ(auth.EnrollNode("alice", "cc", true).code(), StatusCode::kAlreadyExists);
}

TEST_F(IdentityTest, AUserCertificateCarriesTheUsersRoleUntilReplaced) {
  Authenticator auth = Make();
  EXPECT_EQ(auth.SetUserCertificate("dana", "f1").code(), StatusCode::kNotFound);
  auto token = auth.AddUser("dana", Role::kViewer);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(auth.FromCertificate("dana", "f1").ok());  // none recorded yet
  ASSERT_TRUE(auth.SetUserCertificate("dana", "f1").ok());
  auto c = auth.FromCertificate("dana", "f1");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->role, Role::kViewer);
  EXPECT_EQ(c->via, "certificate");
  EXPECT_TRUE(auth.FromToken(*token).ok());  // the token still works beside it
  EXPECT_FALSE(auth.FromCertificate("dana", "f2").ok());
  ASSERT_TRUE(auth.RotateUser("dana").ok());   // a new token keeps the certificate
  EXPECT_TRUE(auth.FromCertificate("dana", "f1").ok());
  ASSERT_TRUE(auth.SetUserCertificate("dana", "f2").ok());  // a new certificate does not
  EXPECT_FALSE(auth.FromCertificate("dana", "f1").ok());
  EXPECT_TRUE(auth.FromCertificate("dana", "f2").ok());
  // Stored: a restarted coordinator knows it.
  Authenticator again = Make();
  again.Load(auth.Users());
  EXPECT_TRUE(again.FromCertificate("dana", "f2").ok());
  // Nodes get theirs by joining, not here.
  ASSERT_TRUE(auth.EnrollNode("node9", "n1", false).ok());
  EXPECT_EQ(auth.SetUserCertificate("node9", "f3").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(auth.RemoveUser("dana").ok());
  EXPECT_FALSE(auth.FromCertificate("dana", "f2").ok());
}

}  // namespace
}  // namespace muster::cluster
