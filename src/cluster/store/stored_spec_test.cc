#include "cluster/store/stored_spec.h"

#include <gtest/gtest.h>

#include "cluster/proto/muster.pb.h"

namespace muster::cluster {
namespace {

TEST(StoredSpec, RoundTripsAnArray) {
  JobSpec s;
  s.command = {"true"};
  s.array = {.first = 0, .last = 999999, .throttle = 7};
  auto back = DecodeStoredSpec(EncodeStoredSpec(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->array.first, 0);
  EXPECT_EQ(back->array.last, 999999);
  EXPECT_EQ(back->array.throttle, 7);
}

TEST(StoredSpec, ReadsTheTextFormOfOlderStores) {
  v1::JobSpec old;
  old.add_command("true");
  old.set_legacy_array("5");
  auto one = DecodeStoredSpec(old.SerializeAsString());
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->array.first, 5);
  EXPECT_EQ(one->TaskCount(), 1);
  EXPECT_FALSE(one->array.empty());

  old.set_legacy_array("9-3");
  auto bad = DecodeStoredSpec(old.SerializeAsString());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_EQ(bad.status().message(), "array range '9-3' ends before it starts");
}

TEST(StoredSpec, RefusesWhatItCannotRead) {
  EXPECT_EQ(DecodeStoredSpec("\x0a\x7f").status().message(), "unreadable spec");
  v1::JobSpec wrapped;
  wrapped.mutable_array()->set_first(4);
  wrapped.mutable_array()->set_last(-4);
  EXPECT_FALSE(DecodeStoredSpec(wrapped.SerializeAsString()).ok());
}

}  // namespace
}  // namespace muster::cluster
