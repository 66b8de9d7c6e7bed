#include "cluster/coordinator/launch_builder.h"

#include <gtest/gtest.h>

namespace muster::cluster {
namespace {

NodeRecord Node(const std::string& name, const std::string& address, std::vector<int> device_ids) {
  NodeRecord n;
  n.spec.name = name;
  n.spec.milli_cpus = 8000;
  n.spec.memory_mib = 8192;
  for (int id : device_ids) n.spec.gpus.push_back({id, "virtual", 16384, true});
  n.address = address;
  return n;
}

struct Fixture {
  std::map<std::string, NodeRecord> nodes;
  LaunchContext Context() {
    return {.checkpoint_root = "/state/checkpoints",
            .master_port_base = 29500,
            .master_port_span = 10000,
            .node = [this](const std::string& n) -> const NodeRecord* {
              auto it = nodes.find(n);
              return it == nodes.end() ? nullptr : &it->second;
            }};
  }
};

JobRecord Job(JobId id, int tasks, bool gang) {
  auto spec = std::make_shared<JobSpec>();
  spec->command = {"python3", "train.py"};
  spec->workdir = "/w";
  spec->tasks = tasks;
  spec->gang = gang;
  spec->max_retries = 2;
  spec->resources.milli_cpus = 2500;
  spec->resources.gpus = 1;
  spec->env = {{"FOO", "bar"}};
  JobRecord j;
  j.id = id;
  j.spec = spec;
  for (int i = 0; i < tasks; ++i) {
    TaskRecord t;
    t.index = i;
    j.tasks.push_back(t);
  }
  return j;
}

sched::Placement Rank(JobId job, int rank, const std::string& node, int gpu, int local, int world,
                      int group) {
  sched::Placement p;
  p.task = {job, rank};
  p.node_name = node;
  p.gpus = {gpu};
  p.start_now = true;
  p.gang_rank = rank;
  p.local_rank = local;
  p.local_world = world;
  p.group_rank = group;
  return p;
}

TEST(LaunchBuilder, ASingleTaskSeesItsOwnDevices) {
  Fixture f;
  f.nodes["a"] = Node("a", "10.0.0.1", {4, 5, 6});  // positions 0..2 are devices 4..6
  JobRecord j = Job(7, 1, false);
  TaskRecord& t = j.tasks[0];
  t.attempt = 3;
  t.node = "a";
  t.gpus = {2};
  sched::Placement p;
  p.task = {7, 0};
  LaunchSpec l = BuildLaunch(j, t, {&p}, f.Context());
  EXPECT_EQ(l.job, 7);
  EXPECT_EQ(l.attempt, 3);
  EXPECT_EQ(l.command, (std::vector<std::string>{"python3", "train.py"}));
  EXPECT_EQ(l.workdir, "/w");
  EXPECT_EQ(l.gpus, std::vector<int>{6});
  EXPECT_EQ(l.env.at("CUDA_VISIBLE_DEVICES"), "6");
  EXPECT_EQ(l.env.at("MUSTER_CHECKPOINT_DIR"), "/state/checkpoints/7");
  EXPECT_EQ(l.checkpoint_dir, "/state/checkpoints/7");  // the agent may give it to the owner
  EXPECT_EQ(l.env.at("MUSTER_ATTEMPT"), "3");
  EXPECT_EQ(l.env.at("FOO"), "bar");
  EXPECT_EQ(l.env.count("RANK"), 0u);
  EXPECT_EQ(l.env.count("MUSTER_CHECKPOINTABLE"), 0u);
}

// Four ranks on two nodes (2 + 2): every torchrun variable, from the placements' rank fields.
TEST(LaunchBuilder, AGangRankGetsTheTorchrunEnvironment) {
  Fixture f;
  f.nodes["a"] = Node("a", "10.0.0.1", {0, 1});
  f.nodes["b"] = Node("b", "10.0.0.2", {0, 1});
  JobRecord j = Job(12, 4, true);
  std::vector<sched::Placement> ps = {Rank(12, 0, "b", 0, 0, 2, 0), Rank(12, 1, "b", 1, 1, 2, 0),
                                      Rank(12, 2, "a", 1, 0, 2, 1), Rank(12, 3, "a", 0, 1, 2, 1)};
  std::vector<const sched::Placement*> start;
  for (const auto& p : ps) start.push_back(&p);
  TaskRecord& t = j.tasks[3];
  t.attempt = 2;
  t.retries = 1;
  t.node = "a";
  t.gpus = {0};
  LaunchSpec l = BuildLaunch(j, t, start, f.Context());
  const auto& e = l.env;
  EXPECT_EQ(e.at("RANK"), "3");
  EXPECT_EQ(e.at("LOCAL_RANK"), "1");
  EXPECT_EQ(e.at("WORLD_SIZE"), "4");
  EXPECT_EQ(e.at("LOCAL_WORLD_SIZE"), "2");
  EXPECT_EQ(e.at("GROUP_RANK"), "1");
  EXPECT_EQ(e.at("GROUP_WORLD_SIZE"), "2");
  EXPECT_EQ(e.at("ROLE_RANK"), "3");
  EXPECT_EQ(e.at("ROLE_WORLD_SIZE"), "4");
  EXPECT_EQ(e.at("ROLE_NAME"), "default");
  EXPECT_EQ(e.at("CUDA_VISIBLE_DEVICES"), "1,0");  // local ranks 0, 1 of node a
  EXPECT_EQ(e.at("MASTER_ADDR"), "10.0.0.2");      // rank 0 is on b
  EXPECT_EQ(e.at("MASTER_PORT"), std::to_string(29500 + (12 * 97 + 2 * 31) % 10000));
  EXPECT_EQ(e.at("TORCHELASTIC_RUN_ID"), "muster-12");
  EXPECT_EQ(e.at("TORCHELASTIC_RESTART_COUNT"), "1");
  EXPECT_EQ(e.at("TORCHELASTIC_MAX_RESTARTS"), "2");
  EXPECT_EQ(e.at("OMP_NUM_THREADS"), "2");  // 2.5 CPUs: the whole ones
  EXPECT_EQ(l.gpus, std::vector<int>{0});   // the rank's own GPU
}

TEST(LaunchBuilder, TheJobsOwnSettingsWin) {
  Fixture f;
  f.nodes["a"] = Node("a", "", {0});
  JobRecord j = Job(1, 1, true);
  auto spec = std::make_shared<JobSpec>(*j.spec);
  spec->env["MUSTER_CHECKPOINT_DIR"] = "/mine";
  spec->env["OMP_NUM_THREADS"] = "7";
  spec->checkpointable = true;
  j.spec = spec;
  TaskRecord& t = j.tasks[0];
  t.node = "a";
  t.gpus = {0};
  sched::Placement p = Rank(1, 0, "a", 0, 0, 1, 0);
  LaunchSpec l = BuildLaunch(j, t, {&p}, f.Context());
  EXPECT_EQ(l.env.at("MUSTER_CHECKPOINT_DIR"), "/mine");
  EXPECT_EQ(l.checkpoint_dir, "");  // the job's own path is never prepared as root
  EXPECT_EQ(l.env.at("OMP_NUM_THREADS"), "7");
  EXPECT_EQ(l.env.at("MUSTER_CHECKPOINTABLE"), "1");
  EXPECT_EQ(l.env.at("MASTER_ADDR"), "127.0.0.1");  // a node without an address: loopback
}

}  // namespace
}  // namespace muster::cluster
