// The agent against a fake coordinator (an in-process AgentLink server): registration, launch,
// reports, heartbeats, reconnection with re-sent exits, refusal.
#include "cluster/agent/agent.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "cluster/agent/task_list.h"
#include "cluster/common/convert.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using cluster::StateName;

class FakeCoordinator final : public v1::AgentLink::Service {
 public:
  explicit FakeCoordinator(v1::RegisterReply reply) : reply_(std::move(reply)) {}

  grpc::Status Connect(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::AgentMessage>* stream) override {
    v1::AgentMessage m;
    if (!stream->Read(&m) || !m.has_register_())
      return {grpc::StatusCode::INVALID_ARGUMENT, "expected Register"};
    {
      std::lock_guard lock(mu_);
      registers_.push_back(m.register_());
    }
    v1::CoordinatorMessage r;
    *r.mutable_register_reply() = reply_;
    {
      std::lock_guard lock(mu_);
      stream->Write(r);
      if (!reply_.accepted()) return grpc::Status::OK;
      stream_ = stream;
    }
    cv_.notify_all();
    while (stream->Read(&m)) {
      std::lock_guard lock(mu_);
      messages_.push_back(m);
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    stream_ = nullptr;
    return grpc::Status::OK;
  }

  bool Send(const v1::CoordinatorMessage& m) {
    std::lock_guard lock(mu_);
    return stream_ && stream_->Write(m);
  }
  // Waits until pred(registers, messages) holds.
  bool WaitFor(const std::function<bool(const std::vector<v1::Register>&,
                                        const std::vector<v1::AgentMessage>&)>& pred,
               std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return pred(registers_, messages_); });
  }
  std::vector<v1::AgentMessage> Messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<v1::Register> Registers() {
    std::lock_guard lock(mu_);
    return registers_;
  }

 private:
  v1::RegisterReply reply_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::Register> registers_;
  std::vector<v1::AgentMessage> messages_;
  grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::AgentMessage>* stream_ = nullptr;
};

struct Server {
  std::unique_ptr<FakeCoordinator> fake;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  Server(v1::RegisterReply reply, int want_port = 0) {
    fake = std::make_unique<FakeCoordinator>(std::move(reply));
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(want_port), grpc::InsecureServerCredentials(),
                       &port);
    b.RegisterService(fake.get());
    server = b.BuildAndStart();
  }
  ~Server() { Stop(); }
  void Stop() {
    if (server) server->Shutdown(std::chrono::system_clock::now() + 200ms);
    server.reset();
  }
};

v1::RegisterReply Accept() {
  v1::RegisterReply r;
  r.set_accepted(true);
  r.set_heartbeat_interval_ms(100);
  return r;
}

v1::CoordinatorMessage LaunchSh(int64_t job, const std::string& script, int64_t attempt = 1) {
  v1::CoordinatorMessage m;
  v1::Launch* l = m.mutable_launch();
  l->set_allow_root(true);  // the agent's own user, root on CI machines
  l->set_job_id(job);
  l->set_attempt(attempt);
  l->add_command("/bin/sh");
  l->add_command("-c");
  l->add_command(script);
  return m;
}

bool HasEvent(const std::vector<v1::AgentMessage>& ms, int64_t job, const std::string& state,
              size_t* pos = nullptr) {
  for (size_t i = 0; i < ms.size(); ++i)
    if (ms[i].has_event() && ms[i].event().job_id() == job && StateName(ms[i].event().state()) == state) {
      if (pos) *pos = i;
      return true;
    }
  return false;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("muster-agent-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    if (agent_) agent_->Shutdown();
    if (run_.joinable()) run_.join();
    agent_.reset();
    fs::remove_all(dir_);
  }
  void StartAgent(int port) {
    AgentOptions o;
    o.coordinator = "127.0.0.1:" + std::to_string(port);
    o.transport.insecure = true;  // the fake coordinator serves plaintext
    o.work_dir = dir_.string();
    o.discovery.name = "nodeA";
    o.discovery.virtual_gpus = 2;
    o.discovery.milli_cpus = 4000;
    o.heartbeat_ms = 100;
    o.initial_backoff_ms = 50;
    o.max_backoff_ms = 200;
    o.stop_grace_ms = 500;
    auto a = Agent::Create(o);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    agent_ = std::move(*a);
    run_ = std::thread([this] { result_ = agent_->Run(); });
  }

  fs::path dir_;
  std::unique_ptr<Agent> agent_;
  std::thread run_;
  Status result_;
};

TEST_F(AgentTest, RegistersLaunchesAndReports) {
  Server s(Accept());
  StartAgent(s.port);
  ASSERT_TRUE(s.fake->WaitFor([](auto& regs, auto&) { return !regs.empty(); }));
  const v1::Register reg = s.fake->Registers()[0];
  EXPECT_EQ(reg.node().name(), "nodeA");
  EXPECT_EQ(reg.node().milli_cpus(), 4000);
  ASSERT_EQ(reg.node().gpus_size(), 2);
  EXPECT_TRUE(reg.node().gpus(1).is_virtual());
  EXPECT_EQ(reg.node().address(), "127.0.0.1");
  EXPECT_EQ(reg.running_size(), 0);

  ASSERT_TRUE(s.fake->Send(LaunchSh(1, "echo hi; echo 'MUSTER_PROGRESS done=1 total=2'; exit 0")));
  ASSERT_TRUE(s.fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 1, "succeeded"); }));
  auto ms = s.fake->Messages();
  size_t running = 0, end = 0;
  ASSERT_TRUE(HasEvent(ms, 1, "running", &running));
  ASSERT_TRUE(HasEvent(ms, 1, "succeeded", &end));
  EXPECT_LT(running, end);
  std::string out;
  bool progress = false;
  for (size_t i = 0; i < ms.size(); ++i) {
    if (ms[i].has_log() && !ms[i].log().stderr()) {
      EXPECT_LT(i, end) << "log after the end event";
      out += ms[i].log().data();
    }
    if (ms[i].has_progress()) {
      progress = true;
      EXPECT_EQ(ms[i].progress().progress().done(), 1);
    }
  }
  EXPECT_EQ(out, "hi\nMUSTER_PROGRESS done=1 total=2\n");
  EXPECT_TRUE(progress);
  // Heartbeats at the coordinator's interval (100 ms).
  ASSERT_TRUE(s.fake->WaitFor(
      [](auto&, auto& ms) {
        int hb = 0;
        for (const auto& m : ms) hb += m.has_heartbeat();
        return hb >= 3;
      },
      3s));
}

TEST_F(AgentTest, HeartbeatsCarryTaskUsage) {
  Server s(Accept());
  StartAgent(s.port);
  ASSERT_TRUE(s.fake->WaitFor([](auto& regs, auto&) { return !regs.empty(); }));
  ASSERT_TRUE(s.fake->Send(LaunchSh(3, "while :; do :; done")));
  // A busy task shows up in a heartbeat with its CPU time and a positive node load.
  EXPECT_TRUE(s.fake->WaitFor(
      [](auto&, auto& ms) {
        for (const auto& m : ms)
          if (m.has_heartbeat() && m.heartbeat().usage().tasks_size() == 1 &&
              m.heartbeat().usage().tasks(0).job_id() == 3 &&
              m.heartbeat().usage().tasks(0).cpu_seconds() > 0.05 &&
              m.heartbeat().usage().cpu_load() > 0.1)
            return true;
        return false;
      },
      5s));
}

TEST_F(AgentTest, ReconnectsReportsRunningAndResendsExits) {
  auto s = std::make_unique<Server>(Accept());
  const int port = s->port;
  StartAgent(port);
  ASSERT_TRUE(s->fake->WaitFor([](auto& regs, auto&) { return !regs.empty(); }));
  ASSERT_TRUE(s->fake->Send(LaunchSh(1, "sleep 0.5; exit 4")));
  ASSERT_TRUE(s->fake->Send(LaunchSh(2, "sleep 30")));
  ASSERT_TRUE(s->fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 2, "running"); }));
  s.reset();  // the coordinator goes away; job 1 ends during the outage
  std::this_thread::sleep_for(900ms);
  v1::RegisterReply reply = Accept();
  v1::RunningTaskReport* k = reply.add_kill();
  k->set_job_id(2);
  k->set_attempt(1);
  s = std::make_unique<Server>(reply, port);
  ASSERT_EQ(s->port, port);
  ASSERT_TRUE(s->fake->WaitFor([](auto& regs, auto&) { return !regs.empty(); }));
  const v1::Register reg = s->fake->Registers()[0];
  ASSERT_EQ(reg.running_size(), 1);  // job 2 kept running; job 1 had ended
  EXPECT_EQ(reg.running(0).job_id(), 2);
  EXPECT_EQ(reg.running(0).attempt(), 1);
  // The exit that happened while disconnected is delivered; the listed task is killed.
  ASSERT_TRUE(s->fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 1, "failed"); }));
  ASSERT_TRUE(s->fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 2, "failed"); }));
  for (const auto& m : s->fake->Messages())
    if (m.has_event() && m.event().job_id() == 1) EXPECT_EQ(m.event().exit_code(), 4);
}

TEST_F(AgentTest, RefusedFirstRegistrationIsFatal) {
  v1::RegisterReply no;
  no.set_accepted(false);
  no.set_error("node 'nodeA' is already connected; stop it or choose another --name");
  Server s(no);
  StartAgent(s.port);
  run_.join();
  EXPECT_EQ(result_.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(result_.message().find("already connected"), std::string::npos);
}

TEST_F(AgentTest, ShutdownStopsTasksAndReportsThem) {
  Server s(Accept());
  StartAgent(s.port);
  ASSERT_TRUE(s.fake->WaitFor([](auto& regs, auto&) { return !regs.empty(); }));
  // The task ignores SIGTERM (and so does its sleep): shutdown must escalate to SIGKILL.
  ASSERT_TRUE(s.fake->Send(LaunchSh(5, "trap '' TERM; echo ready; sleep 30")));
  ASSERT_TRUE(s.fake->WaitFor([](auto&, auto& ms) {
    for (const auto& m : ms)
      if (m.has_log() && m.log().data() == "ready\n") return true;
    return false;
  }));
  auto t0 = std::chrono::steady_clock::now();
  agent_->Shutdown();
  run_.join();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(result_.ok());
  EXPECT_GE(took, 450ms);  // stop_grace_ms = 500
  EXPECT_LT(took, 4s);
  ASSERT_TRUE(s.fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 5, "lost"); }, 2s));
  for (const auto& m : s.fake->Messages())
    if (m.has_event() && m.event().job_id() == 5 && m.event().state() == v1::TASK_STATE_LOST)
      EXPECT_EQ(m.event().exit_code(), 128 + 9);
}

TEST_F(AgentTest, RestartKillsWhatACrashedAgentLeftAndReportsItLost) {
  // A task of a previous agent run, still alive (as after kill -9 of that agent).
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  setpgid(pid, pid);
  usleep(50 * 1000);
  fs::create_directories(dir_);
  ASSERT_TRUE(WriteTaskList((dir_ / "tasks.running").string(),
                            {{9, 0, 4, pid, ProcessStartTicks("/proc", pid)}}));
  Server s(Accept());
  StartAgent(s.port);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st));
  ASSERT_TRUE(s.fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 9, "lost"); }));
  EXPECT_EQ(s.fake->Registers()[0].running_size(), 0);
  // The attempt it had is now stale here.
  ASSERT_TRUE(s.fake->Send(LaunchSh(9, "exit 0", 4)));
  ASSERT_TRUE(s.fake->Send(LaunchSh(10, "exit 0")));
  ASSERT_TRUE(s.fake->WaitFor([](auto&, auto& ms) { return HasEvent(ms, 10, "succeeded"); }));
  size_t pos;
  EXPECT_FALSE(HasEvent(s.fake->Messages(), 9, "running", &pos));
}

TEST(LocalAddress, Loopback) {
  EXPECT_EQ(LocalAddressFor("127.0.0.1:7070"), "127.0.0.1");
  EXPECT_EQ(LocalAddressFor("localhost:7070"), "127.0.0.1");
  EXPECT_EQ(LocalAddressFor("no-such-host.invalid:1"), "");
}

}  // namespace
}  // namespace muster::agent
