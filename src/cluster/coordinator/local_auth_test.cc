// The local socket end to end: a real Unix socket, the kernel's peer credentials, and the
// client side of the handshake (credentials.h).
#include "cluster/coordinator/local_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "cluster/common/credentials.h"
#include "cluster/store/memory_store.h"

namespace muster::cluster {
namespace {

class LocalAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("muster_local_auth_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path() const { return (dir_ / kLocalAuthSocketName).string(); }

  std::filesystem::path dir_;
  MemoryStore store_;
  ManualClock clock_;
};

TEST_F(LocalAuthTest, TheKernelNamesTheCaller) {
  Authenticator auth({.owner_uid = ::geteuid()}, &store_, &clock_);
  auto listener = LocalAuthListener::Start(Path(), &auth);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  struct stat st {};
  ASSERT_EQ(stat(Path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // only the owner (and root) may connect

  auto session = RequestLocalSession(Path());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(session->role, "admin");  // this process is the coordinator's own user
  auto caller = auth.FromToken(session->token);
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(caller->uid, static_cast<int64_t>(::geteuid()));
  EXPECT_EQ(caller->name, session->name);
  EXPECT_EQ((*listener)->served(), 1);

  // A TokenSource over the socket fetches once and again after Refresh.
  auto source = TokenSource::Local(Path());
  auto t1 = source->Token();
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(*source->Token(), *t1);
  EXPECT_TRUE(source->Refresh());
  auto t2 = source->Token();
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(*t2, *t1);
  EXPECT_EQ((*listener)->served(), 3);

  listener->reset();  // stopping removes the socket
  EXPECT_NE(stat(Path().c_str(), &st), 0);
  EXPECT_EQ(RequestLocalSession(Path()).status().code(), StatusCode::kUnavailable);
}

TEST_F(LocalAuthTest, OpenToEveryLocalUserWhenAllowed) {
  Authenticator auth({.owner_uid = ::geteuid(), .allow_local_users = true}, &store_, &clock_);
  auto listener = LocalAuthListener::Start(Path(), &auth);
  ASSERT_TRUE(listener.ok());
  struct stat st {};
  ASSERT_EQ(stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
}

TEST_F(LocalAuthTest, ARefusedCallerGetsTheReason) {
  // The coordinator's owner is some other uid and local users are not let in: only root and the
  // owner are admitted, so this process is refused unless it is root.
  Authenticator auth({.owner_uid = ::geteuid() + 1}, &store_, &clock_);
  auto listener = LocalAuthListener::Start(Path(), &auth);
  ASSERT_TRUE(listener.ok());
  auto session = RequestLocalSession(Path());
  if (::geteuid() == 0) {
    ASSERT_TRUE(session.ok());
    EXPECT_EQ(session->role, "admin");
  } else {
    EXPECT_EQ(session.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(session.status().message().find("--allow-local-users"), std::string::npos);
  }
}

TEST_F(LocalAuthTest, SomethingElseOnThePathIsNoCoordinator) {
  EXPECT_EQ(RequestLocalSession(Path()).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(FindLocalAuthSocket(dir_.string()), "");
}

TEST(TokenFile, OthersMustNotReadIt) {
  auto path = std::filesystem::temp_directory_path() /
              ("muster_token_" + std::to_string(::getpid()));
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("mst_abc\n", f);
    std::fclose(f);
  }
  chmod(path.c_str(), 0644);
  EXPECT_EQ(ReadTokenFile(path).status().code(), StatusCode::kPermissionDenied);
  chmod(path.c_str(), 0600);
  auto t = ReadTokenFile(path);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "mst_abc");
  std::filesystem::remove(path);
  EXPECT_EQ(ReadTokenFile(path).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace muster::cluster
