#include "cluster/coordinator/limit_budget.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

// Jobs of `user`, each of `tasks` tasks of 1 GPU and 2 CPUs; the first `running` of them hold
// their resources on node "a".
class LimitBudgetTest : public ::testing::Test {
 protected:
  JobRecord& AddJob(const std::string& user, int tasks, int running) {
    auto spec = std::make_shared<JobSpec>();
    spec->command = {"true"};
    spec->user = user;
    spec->tasks = tasks;
    spec->resources.milli_cpus = 2000;
    spec->resources.gpus = 1;
    JobRecord j;
    j.id = next_++;
    j.spec = spec;
    for (int i = 0; i < tasks; ++i) j.tasks.push_back(TaskRecord{.index = i});
    JobRecord& added = jobs_.Add(std::move(j));
    for (int i = 0; i < running; ++i) {
      TaskRecord& t = added.tasks[static_cast<size_t>(i)];
      t.node = "a";
      EXPECT_TRUE(jobs_.SetTaskState(added, t, TaskState::kLaunching).ok());
    }
    return added;
  }
  ClusterState cluster_;
  JobTable jobs_{&cluster_};
  JobId next_ = 1;
  std::map<std::pair<std::string, std::string>, LimitRecord> limits_;
};

TEST_F(LimitBudgetTest, AUsersGpusAreCappedAcrossItsJobsWithinOnePass) {
  limits_[{"user", "bob"}] = {.kind = "user", .name = "bob", .max_gpus = 4};
  AddJob("bob", 3, 3);                         // holds 3 GPUs
  JobRecord& more = AddJob("bob", 4, 0);       // wants 4
  JobRecord& other = AddJob("bob", 1, 0);
  JobRecord& ann = AddJob("ann", 8, 0);        // no limit
  LimitBudget b = LimitBudget::Build(limits_, jobs_);
  ASSERT_TRUE(b.any());
  std::string why;
  EXPECT_EQ(b.Allowed(more, 4, &why), 1u);
  b.Take(more, 1);
  EXPECT_EQ(b.Allowed(other, 1, &why), 0u);
  EXPECT_EQ(why, "user limit: 4 of 4 GPUs in use");
  EXPECT_EQ(b.Allowed(ann, 8, &why), 8u);
}

TEST_F(LimitBudgetTest, CpusAndRunningJobsAreLimitedToo) {
  limits_[{"user", "bob"}] = {.kind = "user", .name = "bob", .max_milli_cpus = 5000};
  limits_[{"user", "cy"}] = {.kind = "user", .name = "cy", .max_jobs = 1};
  JobRecord& bob = AddJob("bob", 4, 2);  // 4 CPUs of 5 held: none more of 2 CPUs
  AddJob("cy", 2, 1);
  JobRecord& cy_running = AddJob("cy", 2, 0);
  LimitBudget b = LimitBudget::Build(limits_, jobs_);
  std::string why;
  EXPECT_EQ(b.Allowed(bob, 2, &why), 0u);
  EXPECT_EQ(why, "user limit: 4 of 5 CPUs in use");
  EXPECT_EQ(b.Allowed(cy_running, 2, &why), 0u);
  EXPECT_EQ(why, "user limit: 1 of 1 jobs running");
}

std::vector<std::string> MlTeam(const std::string& user) {
  if (user == "ann" || user == "bob") return {"ml", user};
  return {user};
}

TEST_F(LimitBudgetTest, AGroupsLimitCountsAllOfItsMembers) {
  limits_[{"group", "ml"}] = {.kind = "group", .name = "ml", .max_gpus = 3};
  AddJob("ann", 2, 2);
  JobRecord& bob = AddJob("bob", 2, 0);
  JobRecord& dee = AddJob("dee", 2, 0);  // not in ml
  LimitBudget b = LimitBudget::Build(limits_, jobs_, &MlTeam);
  std::string why;
  EXPECT_EQ(b.Allowed(bob, 2, &why), 1u);
  b.Take(bob, 1);
  EXPECT_EQ(b.Allowed(bob, 1, &why), 0u);
  EXPECT_EQ(why, "group ml limit: 3 of 3 GPUs in use");
  EXPECT_EQ(b.Allowed(dee, 2, &why), 2u);
}

TEST_F(LimitBudgetTest, WithoutLimitsEverythingIsAllowed) {
  JobRecord& j = AddJob("bob", 100, 0);
  LimitBudget b = LimitBudget::Build(limits_, jobs_);
  EXPECT_FALSE(b.any());
  std::string why;
  EXPECT_EQ(b.Allowed(j, 100, &why), 100u);
}

}  // namespace
}  // namespace muster::cluster
