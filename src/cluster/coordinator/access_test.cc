// The role matrix: every action, for every role, on the caller's own object and a foreign one.
#include "cluster/coordinator/access.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

namespace muster::cluster {
namespace {

Caller Make(Role r) {
  return {.name = "alice", .role = r, .via = "test"};
}

// 'y' allowed, 'n' refused; columns: own object, foreign object.
struct Row {
  Action action;
  const char* viewer;
  const char* user;
  const char* admin;
  const char* agent;
};

constexpr Row kMatrix[] = {
    {Action::kReadCluster, "yy", "yy", "yy", "nn"},
    {Action::kReadJobEnv, "nn", "yn", "yy", "nn"},
    {Action::kReadLogs, "nn", "yn", "yy", "nn"},
    {Action::kSubmit, "nn", "yy", "yy", "nn"},
    {Action::kSubmitAs, "nn", "yn", "yy", "nn"},
    {Action::kCancel, "nn", "yn", "yy", "nn"},
    {Action::kManageUsers, "nn", "nn", "yy", "nn"},
    {Action::kReadAudit, "nn", "nn", "yy", "nn"},
    {Action::kBackup, "nn", "nn", "yy", "nn"},
    {Action::kCollectGarbage, "nn", "nn", "yy", "nn"},
    {Action::kManageNodes, "nn", "nn", "yy", "nn"},
    {Action::kActAsNode, "nn", "nn", "yy", "yn"},
};

TEST(Access, RoleMatrix) {
  for (const Row& row : kMatrix) {
    const std::pair<Role, const char*> cols[] = {{Role::kViewer, row.viewer},
                                                 {Role::kUser, row.user},
                                                 {Role::kAdmin, row.admin},
                                                 {Role::kAgent, row.agent}};
    for (auto [role, expect] : cols) {
      for (int foreign = 0; foreign < 2; ++foreign) {
        Status s = Authorize(Make(role), row.action, foreign ? "bob" : "alice", "job 12");
        EXPECT_EQ(s.ok(), expect[foreign] == 'y')
            << RoleName(role) << " / " << ActionName(row.action) << " / "
            << (foreign ? "foreign" : "own") << ": " << s.message();
        if (!s.ok()) {
          EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
          EXPECT_EQ(s.message().rfind("permission denied: ", 0), 0u) << s.message();
        }
      }
    }
  }
}

TEST(Access, RefusalsSayWhoOwnsWhat) {
  Status s = Authorize(Make(Role::kUser), Action::kCancel, "bob", "job 12");
  EXPECT_EQ(s.message(), "permission denied: job 12 belongs to bob");
  s = Authorize(Make(Role::kViewer), Action::kSubmit);
  EXPECT_EQ(s.message(), "permission denied: alice has the viewer role, which may not submit jobs");
  s = Authorize(Make(Role::kAgent), Action::kActAsNode, "node2");
  EXPECT_EQ(s.message(), "permission denied: this agent's credential is for node alice, not node2");
}

TEST(Access, RoleNamesRoundTrip) {
  for (Role r : {Role::kViewer, Role::kUser, Role::kAdmin, Role::kAgent})
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
}

}  // namespace
}  // namespace muster::cluster
