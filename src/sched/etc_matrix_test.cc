#include "sched/etc_matrix.h"

#include <gtest/gtest.h>

namespace muster::sched {
namespace {

std::string ErrorOf(std::string_view text) {
  auto r = ParseEtc(text);
  return r.ok() ? "" : r.status().message();
}

TEST(EtcMatrix, ParsesBraunFormat) {
  auto r = ParseEtc("2 3 0\n1.5\n2\n3\n4\n5\n6.25\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tasks(), 2);
  EXPECT_EQ(r->machines(), 3);
  EXPECT_DOUBLE_EQ(r->At(0, 0), 1.5);
  EXPECT_DOUBLE_EQ(r->At(1, 0), 4);
  EXPECT_DOUBLE_EQ(r->At(1, 2), 6.25);
}

TEST(EtcMatrix, AcceptsTwoFieldHeaderCommentsCrlfAndRows) {
  auto r = ParseEtc("# comment\r\n2 2\r\n1 2   # task 0\r\n\r\n3 4e1\r\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->At(1, 1), 40);
}

TEST(EtcMatrix, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf(""), "empty ETC matrix: no header line");
  EXPECT_NE(ErrorOf("512 x 0\n").find("line 1: header must be"), std::string::npos);
  EXPECT_NE(ErrorOf("0 4\n").find("line 1: tasks and machines must be positive"),
            std::string::npos);
  // Found by fuzz/etc_fuzz: counts whose product overflows are refused, not multiplied.
  EXPECT_NE(ErrorOf("2222222222222222240 83\n").find("at most 50,000,000"), std::string::npos);
  EXPECT_NE(ErrorOf("9223372036854775807 9223372036854775807\n").find("at most 50,000,000"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("1 2\n1\nabc\n"), "line 3: 'abc' is not a non-negative number");
  EXPECT_EQ(ErrorOf("1 2\n1\n-2\n"), "line 3: '-2' is not a non-negative number");
  EXPECT_EQ(ErrorOf("1 2\n1\n2\n3\n"),
            "line 4: more values than the 2 the header announces (1 tasks x 2 machines)");
  EXPECT_EQ(ErrorOf("2 2\n1\n2\n3\n"),
            "expected 4 values (2 tasks x 2 machines), found 3 before the end at line 5");
}

TEST(EtcMatrix, BuildScheduleRunsTasksBackToBack) {
  const EtcMatrix etc(3, 2, {1, 10, 2, 20, 3, 30});
  const EtcSchedule s = BuildEtcSchedule(etc, {0, 1, 0}, {2, 0, 1}, "x");
  ASSERT_EQ(s.rows.size(), 3u);
  EXPECT_EQ(s.rows[0].task, 2);
  EXPECT_DOUBLE_EQ(s.rows[0].finish, 3);
  EXPECT_DOUBLE_EQ(s.rows[1].start, 3);
  EXPECT_DOUBLE_EQ(s.rows[1].finish, 4);
  EXPECT_DOUBLE_EQ(s.rows[2].finish, 20);
  EXPECT_DOUBLE_EQ(s.makespan, 20);
  EXPECT_DOUBLE_EQ(s.flowtime, 27);
  EXPECT_EQ(MachineLoads(etc, {0, 1, 0}), (std::vector<double>{4, 20}));
}

}  // namespace
}  // namespace muster::sched
