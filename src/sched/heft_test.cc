#include "sched/heft.h"

#include <gtest/gtest.h>


namespace muster::sched {
namespace {

// The example of Topcuoglu, Hariri and Wu (2002), as in examples/dags/topcuoglu.dag.
constexpr const char* kTopcuoglu = R"(processors 3
task n1 14 16 9
task n2 13 19 18
task n3 11 13 19
task n4 13 8 17
task n5 12 13 10
task n6 13 16 9
task n7 7 15 11
task n8 5 11 14
task n9 18 12 20
task n10 21 7 16
edge n1 n2 18
edge n1 n3 12
edge n1 n4 9
edge n1 n5 11
edge n1 n6 14
edge n2 n8 19
edge n2 n9 16
edge n3 n7 23
edge n4 n8 27
edge n4 n9 23
edge n5 n9 13
edge n6 n8 15
edge n7 n10 17
edge n8 n10 11
edge n9 n10 13
)";

// Every task starts after its inputs arrive and no two tasks overlap on a processor.
void ExpectFeasible(const Dag& dag, const HeftSchedule& s) {
  ASSERT_EQ(s.rows.size(), dag.tasks.size());
  std::vector<HeftSlot> by_task(dag.tasks.size());
  for (const auto& r : s.rows) {
    by_task[r.task] = r;
    EXPECT_DOUBLE_EQ(r.finish - r.start, dag.tasks[r.task].cost[r.processor]);
  }
  for (const auto& e : dag.edges) {
    const auto& a = by_task[e.from];
    const auto& b = by_task[e.to];
    EXPECT_GE(b.start, a.finish + (a.processor == b.processor ? 0 : e.comm) - 1e-9)
        << dag.tasks[e.from].name << " -> " << dag.tasks[e.to].name;
  }
  for (size_t i = 0; i < s.rows.size(); ++i) {
    for (size_t j = i + 1; j < s.rows.size(); ++j) {
      const auto& a = s.rows[i];
      const auto& b = s.rows[j];
      if (a.processor != b.processor || a.start == a.finish || b.start == b.finish) continue;
      EXPECT_TRUE(a.finish <= b.start || b.finish <= a.start)
          << dag.tasks[a.task].name << " overlaps " << dag.tasks[b.task].name;
    }
  }
}

TEST(Heft, TopcuogluExampleMakespan80) {
  auto dag = ParseDag(kTopcuoglu);
  ASSERT_TRUE(dag.ok()) << dag.status().ToString();
  auto s = Heft(*dag);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_DOUBLE_EQ(s->makespan, 80);
  // Upward ranks from the paper (Table 2).
  const std::vector<double> ranks{108, 77, 80, 80, 69, 63.333, 42.667, 35.667, 44.333, 14.667};
  for (size_t i = 0; i < ranks.size(); ++i) EXPECT_NEAR(s->upward_rank[i], ranks[i], 1e-3) << i;
  // The paper's scheduling order n1, n3, n4, n2, n5, n6, n9, n7, n8, n10.
  EXPECT_EQ(s->order, (std::vector<int>{0, 2, 3, 1, 4, 5, 8, 6, 7, 9}));
  EXPECT_EQ(s->rows[0].processor, 2);  // n1 on P3, finishing at 9
  EXPECT_DOUBLE_EQ(s->rows[0].finish, 9);
  ExpectFeasible(*dag, *s);
  double busy = 0;
  for (double b : s->processor_busy) busy += b;
  double sum = 0;
  for (const auto& r : s->rows) sum += r.finish - r.start;
  EXPECT_DOUBLE_EQ(busy, sum);
}


TEST(Heft, InsertionFillsAnIdleGap) {
  // Ranks: x 112.5, a 103, c 51, b 50.5. x goes to P1 [0,3], a to P0 [0,4]; c needs x's data
  // on P0 at 3 + 10 = 13, so P0 idles over [4,13] and c runs [13,15]. b, scheduled last, fits in
  // that gap ([4,5]) instead of after c (which would make the makespan 16).
  auto dag = ParseDag(R"(processors 2
task a 4 100
task x 100 3
task c 2 100
task b 1 100
edge a c 0
edge x c 10
)");
  ASSERT_TRUE(dag.ok()) << dag.status().ToString();
  auto s = Heft(*dag);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->order.back(), 3);
  EXPECT_EQ(s->rows.back().processor, 0);
  EXPECT_DOUBLE_EQ(s->rows.back().start, 4);
  EXPECT_DOUBLE_EQ(s->makespan, 15);
  ExpectFeasible(*dag, *s);
}

TEST(Heft, DeterministicAndHandlesZeroCosts) {
  auto dag = ParseDag("processors 2\ntask b 0 0\ntask a 0 0\nedge b a 0\n");
  ASSERT_TRUE(dag.ok());
  auto s1 = Heft(*dag);
  auto s2 = Heft(*dag);
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(s1->order, (std::vector<int>{0, 1}));  // precedence kept despite equal ranks
  EXPECT_EQ(s1->order, s2->order);
  EXPECT_DOUBLE_EQ(s1->makespan, 0);
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseDag(text);
  return r.ok() ? "" : r.status().message();
}

TEST(DagFormat, ErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("task a 1\n"), "line 1: 'processors <P>' must come before tasks");
  EXPECT_EQ(ErrorOf("processors 0\n"),
            "line 1: expected 'processors <P>' with P a positive integer");
  EXPECT_EQ(ErrorOf("processors 2\ntask a 1\n"),
            "line 2: expected 'task <name>' and 2 costs, one per processor");
  EXPECT_EQ(ErrorOf("processors 1\ntask a x\n"), "line 2: 'x' is not a non-negative number");
  EXPECT_EQ(ErrorOf("processors 1\ntask a 1\ntask a 2\n"), "line 3: task 'a' defined twice");
  EXPECT_EQ(ErrorOf("processors 1\ntask a 1\nedge a b 1\n"),
            "line 3: edge names unknown task 'b' (define tasks before their edges)");
  EXPECT_EQ(ErrorOf("processors 1\ntask a 1\ntask b 1\nedge a b 1\nedge a b 2\n"),
            "line 5: duplicate edge a -> b");
  EXPECT_EQ(ErrorOf("processors 1\ntask a 1\ntask b 1\nedge a b 1\nedge b a 1\n"),
            "the graph has a cycle through task 'a'");
  EXPECT_EQ(ErrorOf("processors 1\nnode a 1\n"),
            "line 2: unknown keyword 'node' (expected processors, task or edge)");
  EXPECT_EQ(ErrorOf("# nothing\n"), "no 'processors <P>' line");
  EXPECT_EQ(ErrorOf("processors 1\ntask a 1\nedge a a 1\n"),
            "line 3: an edge cannot loop on a task");
}

}  // namespace
}  // namespace muster::sched
