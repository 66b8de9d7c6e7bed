// Shared fixture of the coordinator unit tests: a fake agent channel, a manual clock, helpers
// that build registrations, specs and task events.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/common/convert.h"
#include "cluster/coordinator/coordinator.h"

namespace muster::cluster::testing {

class FakeChannel final : public AgentChannel {
 public:
  void Send(v1::CoordinatorMessage msg) override {
    std::lock_guard lock(mu);
    sent.push_back(std::move(msg));
  }
  void Close() override { closed = true; }
  std::vector<v1::Launch> Launches() {
    std::lock_guard lock(mu);
    std::vector<v1::Launch> out;
    for (const auto& m : sent)
      if (m.has_launch()) out.push_back(m.launch());
    return out;
  }
  std::vector<v1::Kill> Kills() {
    std::lock_guard lock(mu);
    std::vector<v1::Kill> out;
    for (const auto& m : sent)
      if (m.has_kill()) out.push_back(m.kill());
    return out;
  }
  std::mutex mu;
  std::vector<v1::CoordinatorMessage> sent;
  bool closed = false;
};

inline std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("muster_coord_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

inline v1::Register MakeRegister(const std::string& name, int gpus, int64_t milli_cpus = 8000) {
  v1::Register r;
  NodeSpec n{.name = name, .milli_cpus = milli_cpus, .memory_mib = 32000, .gpus = {}};
  for (int i = 0; i < gpus; ++i)
    n.gpus.push_back({.index = i, .model = "virtual", .memory_mib = 16384, .is_virtual = true});
  ToProto(n, r.mutable_node(), "10.0.0." + std::to_string(name.size()));
  r.set_protocol(kWireProtocol);
  return r;
}

inline JobSpec MakeSpec(int gpus = 1, int tasks = 1, bool gang = false, int max_retries = 0) {
  JobSpec s;
  s.name = "job";
  s.command = {"sleep", "1"};
  s.tasks = tasks;
  s.gang = gang;
  s.resources.gpus = gpus;
  s.max_retries = max_retries;
  return s;
}

inline v1::AgentMessage Event(JobId job, int index, Attempt attempt, const std::string& state,
                              int exit_code = 0) {
  v1::AgentMessage m;
  auto* e = m.mutable_event();
  e->set_job_id(job);
  e->set_task_index(index);
  e->set_attempt(attempt);
  e->set_state(ParseWireTaskState(state).value());
  e->set_exit_code(exit_code);
  return m;
}

// Deletes a coordinator after checking what must hold whatever a test did: no illegal state
// change was attempted, and the incrementally kept free capacity matches a recomputation.
struct CheckOnClose {
  void operator()(Coordinator* c) const {
    if (c != nullptr) {
      EXPECT_EQ(c->IllegalTransitions(), 0);
      Status capacity = c->CheckInvariants();
      EXPECT_TRUE(capacity.ok()) << capacity.message();
    }
    delete c;
  }
};
using CoordinatorPtr = std::unique_ptr<Coordinator, CheckOnClose>;

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  CoordinatorPtr OpenCoordinator(const std::string& policy = "fifo") {
    return OpenCoordinatorIn(dir_, policy);
  }
  CoordinatorPtr OpenCoordinatorIn(const std::string& dir, const std::string& policy = "fifo") {
    CoordinatorOptions o;
    o.scheduler.queue_policy = policy;
    o.state_dir = dir;
    o.heartbeat_timeout_ms = 10000;
    o.lost_node_timeout_ms = 30000;
    auto c = Coordinator::Open(o, &clock_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return CoordinatorPtr(c.ok() ? std::move(c).value().release() : nullptr);
  }
  std::shared_ptr<FakeChannel> Connect(Coordinator& c, const std::string& name, int gpus,
                                       v1::Register reg = {}) {
    auto ch = std::make_shared<FakeChannel>();
    if (!reg.has_node()) reg = MakeRegister(name, gpus);
    EXPECT_TRUE(c.RegisterAgent(reg, "127.0.0.1", ch).ok());
    return ch;
  }
  std::string TaskState(Coordinator& c, JobId job, int index = 0) {
    auto info = c.GetJob(job);
    EXPECT_TRUE(info.ok());
    for (const auto& t : info->tasks)
      if (t.index == index) return TaskStateName(t.state);
    return "?";
  }
  std::string dir_;
  ManualClock clock_{1'700'000'000'000};
};

}  // namespace muster::cluster::testing
