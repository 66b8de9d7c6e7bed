// Randomized, seeded property tests of Schedule(): no plan oversubscribes a node at any instant,
// backfill never delays the head job's reservation, gangs are all or nothing, and the plan is a
// function of the input only.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/capacity.h"
#include "sched/placement_test_util.h"
#include "sched/scheduler.h"

namespace muster::sched {
namespace {

using testing_util::CheckNoOversubscription;
using testing_util::Job;
using testing_util::Node;
using testing_util::Req;

struct GenOptions {
  bool throttles = true;
  bool pins = true;
};

// A consistent random snapshot: free = capacity - running, running tasks fit their nodes.
ClusterSnapshot RandomSnapshot(uint32_t seed, GenOptions opt = {}) {
  std::mt19937 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  ClusterSnapshot s;
  s.now_ms = 1'000'000;
  const int nodes = uni(1, 6);
  const double speeds[] = {1.0, 1.0, 1.5, 2.0};
  for (int i = 0; i < nodes; ++i) {
    s.nodes.push_back(Node("n" + std::to_string(i), 1000 * uni(4, 32), 1024 * uni(8, 64), uni(0, 8),
                           i % 3 == 2 ? "NVIDIA H100" : "NVIDIA A100", i % 3 == 2 ? 81920 : 40960,
                           speeds[uni(0, 3)]));
    if (uni(0, 9) == 0) s.nodes.back().state = NodeState::kDraining;
  }
  const int running = uni(0, 12);
  for (int k = 0; k < running; ++k) {
    int n = uni(0, nodes - 1);
    NodeView& v = s.nodes[n];
    RunningTask r;
    r.task = {1000 + k, 0};
    r.node = n;
    r.resources = Req(500 * uni(1, 8), 512 * uni(1, 8), uni(0, 2));
    if (r.resources.milli_cpus > v.free.milli_cpus || r.resources.memory_mib > v.free.memory_mib)
      continue;
    for (size_t g = 0;
         g < v.free.gpu_free.size() && static_cast<int>(r.gpus.size()) < r.resources.gpus; ++g)
      if (v.free.gpu_free[g]) r.gpus.push_back(static_cast<int>(g));
    if (static_cast<int>(r.gpus.size()) < r.resources.gpus) continue;
    for (int g : r.gpus) v.free.gpu_free[g] = false;
    v.free.milli_cpus -= r.resources.milli_cpus;
    v.free.memory_mib -= r.resources.memory_mib;
    r.started_ms = s.now_ms - uni(0, 10000);
    r.predicted_finish_ms = s.now_ms + 1000 * uni(0, 300);
    s.running.push_back(r);
  }
  const int jobs = uni(1, 16);
  for (int j = 0; j < jobs; ++j) {
    const bool gang = uni(0, 3) == 0;
    const int tasks = gang ? uni(2, 6) : uni(1, 4);
    ResourceRequest r = Req(500 * uni(0, 8), 512 * uni(1, 6), uni(0, 3));
    if (r.milli_cpus == 0 && r.gpus == 0) r.milli_cpus = 500;
    if (r.gpus > 0 && uni(0, 5) == 0) r.gpu_model = "H100";
    PendingJob p = Job(j + 1, tasks, r, 1000 * uni(0, 400), gang);
    auto spec = std::const_pointer_cast<JobSpec>(p.spec);
    spec->user = "user" + std::to_string(uni(0, 2));
    spec->priority = uni(0, 3);
    if (gang && tasks % 2 == 0 && uni(0, 2) == 0) spec->ranks_per_node = 2;
    if (!gang && opt.throttles && uni(0, 4) == 0) {
      spec->array = {.first = 0, .last = tasks - 1, .throttle = uni(1, 2)};
      p.running_tasks = uni(0, 1);
    }
    if (opt.pins && uni(0, 9) == 0) p.pinned_node = uni(0, nodes - 1);
    p.user_dominant_share = 0.1 * uni(0, 5);
    s.queue.push_back(p);
  }
  return s;
}

std::vector<SchedulerConfig> Configs() {
  std::vector<SchedulerConfig> out;
  for (const char* policy : {"fifo", "priority", "sjf", "fairshare"})
    for (auto scorers : std::vector<std::vector<std::string>>{
             {"binpack"}, {"spread"}, {"mct"}, {"fewest-nodes", "binpack"}})
      for (bool backfill : {true, false})
        for (int limit : {0, 2}) {
          SchedulerConfig c;
          c.queue_policy = policy;
          c.scorers = scorers;
          c.backfill = backfill;
          c.candidate_limit = limit;
          out.push_back(c);
        }
  return out;
}

TEST(ScheduleProperty, NoPlanOversubscribesAnyNode) {
  const auto configs = Configs();
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    const SchedulerConfig& c = configs[seed % configs.size()];
    auto plan = Schedule(s, c);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(CheckNoOversubscription(s, *plan), "") << "seed " << seed;
    // Rows carry exactly the requested resources; started rows start now.
    std::map<JobId, const PendingJob*> jobs;
    for (const auto& j : s.queue) jobs[j.id] = &j;
    for (const auto& p : plan->placements) {
      const ResourceRequest& r = jobs.at(p.task.job)->spec->resources;
      EXPECT_EQ(static_cast<int>(p.gpus.size()), r.gpus) << "seed " << seed;
      EXPECT_EQ(p.milli_cpus, r.milli_cpus);
      EXPECT_EQ(p.memory_mib, r.memory_mib);
      EXPECT_GE(p.predicted_start_ms, s.now_ms);
      EXPECT_GE(p.predicted_finish_ms, p.predicted_start_ms);
      if (p.start_now) {
        EXPECT_EQ(p.predicted_start_ms, s.now_ms);
        EXPECT_EQ(s.nodes[p.node].state, NodeState::kReady);
      }
      if (jobs.at(p.task.job)->pinned_node >= 0)
        EXPECT_EQ(p.node, jobs.at(p.task.job)->pinned_node) << "seed " << seed;
    }
  }
}

TEST(ScheduleProperty, GangsStartWhollyOrNotAtAll) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    auto plan = Schedule(s, {});
    ASSERT_TRUE(plan.ok());
    for (const auto& j : s.queue) {
      if (!j.spec->gang) continue;
      int started = 0;
      int predicted = 0;
      std::map<int, int> per_node;
      for (const auto& p : plan->placements) {
        if (p.task.job != j.id) continue;
        (p.start_now ? started : predicted)++;
        ++per_node[p.node];
      }
      EXPECT_TRUE(started == 0 || started == j.spec->tasks) << "seed " << seed;
      EXPECT_TRUE(predicted == 0 || predicted == j.spec->tasks) << "seed " << seed;
      if (j.spec->ranks_per_node > 0)
        for (auto [node, k] : per_node) EXPECT_EQ(k % j.spec->ranks_per_node, 0) << "seed " << seed;
    }
  }
}

// The head job: the first job, in FIFO order, that could not start for lack of resources.
JobId HeadOf(const ClusterSnapshot& s, const Plan& no_backfill) {
  std::vector<const PendingJob*> fifo;
  for (const auto& j : s.queue) fifo.push_back(&j);
  std::sort(fifo.begin(), fifo.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (auto* j : fifo)
    for (const auto& u : no_backfill.unplaced)
      if (u.job == j->id && u.why.message().starts_with("waiting for resources")) return j->id;
  return 0;
}

TimeMs FirstPredictedStart(const Plan& p, JobId job) {
  TimeMs t = -1;
  for (const auto& row : p.placements)
    if (row.task.job == job && !row.start_now && (t < 0 || row.predicted_start_ms < t))
      t = row.predicted_start_ms;
  return t;
}

TEST(ScheduleProperty, BackfillNeverDelaysTheHeadReservation) {
  int heads = 0;
  int backfilled = 0;
  for (uint32_t seed = 1; seed <= 400; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    SchedulerConfig off;
    off.backfill = false;
    off.scorers = seed % 2 ? std::vector<std::string>{"binpack"} : std::vector<std::string>{"mct"};
    SchedulerConfig on = off;
    on.backfill = true;
    auto a = Schedule(s, off);
    auto b = Schedule(s, on);
    ASSERT_TRUE(a.ok() && b.ok());
    JobId head = HeadOf(s, *a);
    if (head == 0) continue;
    ++heads;
    TimeMs without = FirstPredictedStart(*a, head);
    TimeMs with = FirstPredictedStart(*b, head);
    EXPECT_EQ(with, without) << "seed " << seed << " head " << head;
    if (b->StartNow().size() > a->StartNow().size()) ++backfilled;
  }
  // The generator must exercise the property, not pass vacuously.
  EXPECT_GT(heads, 100);
  EXPECT_GT(backfilled, 20);
}

TEST(ScheduleProperty, SameInputSamePlanWhateverTheQueueOrder) {
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    SchedulerConfig c = Configs()[seed % Configs().size()];
    auto a = Schedule(s, c);
    std::mt19937 rng(seed);
    std::shuffle(s.queue.begin(), s.queue.end(), rng);
    auto b = Schedule(s, c);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->placements.size(), b->placements.size()) << "seed " << seed;
    for (size_t i = 0; i < a->placements.size(); ++i) {
      const Placement& x = a->placements[i];
      const Placement& y = b->placements[i];
      EXPECT_TRUE(x.task == y.task && x.node == y.node && x.gpus == y.gpus &&
                  x.predicted_start_ms == y.predicted_start_ms &&
                  x.predicted_finish_ms == y.predicted_finish_ms && x.start_now == y.start_now &&
                  x.gang_rank == y.gang_rank && x.local_rank == y.local_rank)
          << "seed " << seed << " row " << i;
    }
    ASSERT_EQ(a->unplaced.size(), b->unplaced.size());
    for (size_t i = 0; i < a->unplaced.size(); ++i) {
      EXPECT_EQ(a->unplaced[i].job, b->unplaced[i].job);
      EXPECT_EQ(a->unplaced[i].why.ToString(), b->unplaced[i].why.ToString());
    }
  }
}

// The rows and reasons of two plans, in order; "" when equal.
std::string PlanDiff(const Plan& a, const Plan& b) {
  if (a.placements.size() != b.placements.size())
    return std::to_string(a.placements.size()) + " rows vs " +
           std::to_string(b.placements.size());
  for (size_t i = 0; i < a.placements.size(); ++i) {
    const Placement& x = a.placements[i];
    const Placement& y = b.placements[i];
    if (!(x.task == y.task && x.node == y.node && x.gpus == y.gpus &&
          x.predicted_start_ms == y.predicted_start_ms &&
          x.predicted_finish_ms == y.predicted_finish_ms && x.start_now == y.start_now &&
          x.gang_rank == y.gang_rank && x.local_rank == y.local_rank))
      return "row " + std::to_string(i) + " differs";
  }
  if (a.unplaced.size() != b.unplaced.size()) return "unplaced counts differ";
  for (size_t i = 0; i < a.unplaced.size(); ++i)
    if (a.unplaced[i].job != b.unplaced[i].job ||
        a.unplaced[i].why.ToString() != b.unplaced[i].why.ToString())
      return "unplaced " + std::to_string(i) + ": " + a.unplaced[i].why.ToString() + " vs " +
             b.unplaced[i].why.ToString();
  return "";
}

// A Scheduler kept across passes, told which nodes changed, plans exactly as a fresh one: over
// rounds that start the plan's tasks, finish running ones, and now and then drain a node (a new
// generation, with no change list at all).
TEST(ScheduleProperty, KeptSchedulerPlansAsAFreshOne) {
  const auto configs = Configs();
  for (uint32_t seed = 1; seed <= 120; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    s.nodes_generation = 1;
    SchedulerConfig c = configs[seed % configs.size()];
    c.max_predicted_jobs = seed % 2 ? 100 : 0;
    auto kept = Scheduler::Create(c);
    ASSERT_TRUE(kept.ok());
    std::mt19937 rng(seed);
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<int> changed;
    for (int round = 0; round < 6; ++round) {
      auto fresh = Schedule(s, c);
      auto again = kept->Run(s, &changed);
      ASSERT_TRUE(fresh.ok() && again.ok()) << "seed " << seed;
      ASSERT_EQ(PlanDiff(*fresh, *again), "") << "seed " << seed << " round " << round;
      changed.clear();
      // Start what the plan starts: debit the nodes, move the tasks from the queue to running.
      for (const Placement* p : fresh->StartNow()) {
        auto job = std::find_if(s.queue.begin(), s.queue.end(),
                                [&](const PendingJob& j) { return j.id == p->task.job; });
        ASSERT_NE(job, s.queue.end());
        RunningTask r;
        r.task = p->task;
        r.node = p->node;
        r.gpus = p->gpus;
        r.resources = job->spec->resources;
        r.started_ms = s.now_ms;
        r.predicted_finish_ms = p->predicted_finish_ms;
        Take(s.nodes[p->node].free, r.resources, r.gpus);
        auto& pending = job->pending_tasks;
        pending.erase(std::find(pending.begin(), pending.end(), p->task.index));
        ++job->running_tasks;
        s.running.push_back(r);
        changed.push_back(p->node);
      }
      // Finish some running tasks.
      for (size_t i = 0; i < s.running.size();) {
        if (uni(0, 2) == 0) {
          const RunningTask& r = s.running[i];
          Release(s.nodes[r.node].free, r.resources, r.gpus);
          changed.push_back(r.node);
          s.running.erase(s.running.begin() + static_cast<long>(i));
        } else {
          ++i;
        }
      }
      s.now_ms += 1000 * uni(0, 60);
      if (uni(0, 4) == 0) {  // a node changes state: new generation, and no list is needed
        NodeView& v = s.nodes[uni(0, static_cast<int>(s.nodes.size()) - 1)];
        v.state = v.state == NodeState::kReady ? NodeState::kDraining : NodeState::kReady;
        ++s.nodes_generation;
        changed.clear();
      }
    }
  }
}

TEST(ScheduleProperty, EveryQueuedJobIsAccountedFor) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    ClusterSnapshot s = RandomSnapshot(seed);
    auto plan = Schedule(s, {});
    ASSERT_TRUE(plan.ok());
    for (const auto& j : s.queue) {
      int started = 0;
      for (const auto& p : plan->placements) started += p.task.job == j.id && p.start_now;
      int listed = 0;
      for (const auto& u : plan->unplaced) listed += u.job == j.id;
      // Fully started jobs are not listed as unplaced; every other job is, exactly once.
      EXPECT_EQ(listed, started == static_cast<int>(j.pending_tasks.size()) ? 0 : 1)
          << "seed " << seed << " job " << j.id;
    }
  }
}

// Larger clusters (more than 64 nodes, so the free-GPU index spans several bitset words) with
// mixed requests and many running tasks, under the default configuration and an exhaustive one.
TEST(ScheduleProperty, LargerClustersStayValid) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    std::mt19937 rng(seed);
    auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    ClusterSnapshot s;
    s.now_ms = 0;
    for (int i = 0; i < 150; ++i)
      s.nodes.push_back(Node("n" + std::to_string(i), 32000, 256000, uni(0, 1) ? 8 : 4));
    for (int k = 0; k < 300; ++k) {
      int n = uni(0, 149);
      NodeView& v = s.nodes[n];
      int g = 0;
      while (g < static_cast<int>(v.free.gpu_free.size()) && !v.free.gpu_free[g]) ++g;
      if (g == static_cast<int>(v.free.gpu_free.size()) || v.free.milli_cpus < 2000) continue;
      RunningTask r;
      r.task = {100000 + k, 0};
      r.node = n;
      r.gpus = {g};
      r.resources = Req(2000, 8000, 1);
      r.predicted_finish_ms = 1000 * uni(1, 500);
      v.free.gpu_free[g] = false;
      v.free.milli_cpus -= 2000;
      v.free.memory_mib -= 8000;
      s.running.push_back(r);
    }
    for (int j = 1; j <= 600; ++j) {
      const bool gang = uni(0, 9) == 0;
      s.queue.push_back(Job(j, gang ? uni(2, 16) : uni(1, 3),
                            Req(1000 * uni(1, 8), 4000 * uni(1, 8), uni(0, 4)), 1000 * uni(1, 900),
                            gang));
    }
    for (int limit : {16, 0}) {
      SchedulerConfig c;
      c.candidate_limit = limit;
      auto plan = Schedule(s, c);
      ASSERT_TRUE(plan.ok());
      EXPECT_EQ(CheckNoOversubscription(s, *plan), "") << "seed " << seed;
      EXPECT_GT(plan->StartNow().size(), 100u);
      int rows_for_waiting = 0;
      for (const auto& p : plan->placements) rows_for_waiting += !p.start_now;
      EXPECT_GT(rows_for_waiting, 100);
    }
    SchedulerConfig off;
    off.backfill = false;
    auto a = Schedule(s, off);
    auto b = Schedule(s, {});
    ASSERT_TRUE(a.ok() && b.ok());
    JobId head = HeadOf(s, *a);
    ASSERT_NE(head, 0);
    EXPECT_EQ(FirstPredictedStart(*b, head), FirstPredictedStart(*a, head)) << "seed " << seed;
    EXPECT_GT(b->StartNow().size(), a->StartNow().size()) << "seed " << seed;
  }
}

}  // namespace
}  // namespace muster::sched
