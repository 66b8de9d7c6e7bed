#include "cluster/common/convert.h"

#include <gtest/gtest.h>

#include <sstream>

namespace muster::cluster {
namespace {

TEST(Convert, JobSpecRoundTrip) {
  JobSpec s;
  s.name = "train";
  s.user = "ana";
  s.job_class = "cnn";
  s.command = {"python3", "train.py", "--epochs", "3"};
  s.env = {{"A", "1"}, {"B", "two"}};
  s.workdir = "/tmp/w";
  s.tasks = 4;
  s.gang = true;
  s.ranks_per_node = 2;
  s.after = {3, 9};
  s.priority = 7;
  s.resources = {.milli_cpus = 1500,
                 .memory_mib = 4096,
                 .gpus = 1,
                 .min_gpu_memory_mib = 40000,
                 .gpu_model = "H100"};
  s.est_work = 12.5;
  s.est_time_s = 60;
  s.checkpointable = true;
  s.max_retries = 2;
  v1::JobSpec p;
  ToProto(s, &p);
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, "train");
  EXPECT_EQ(back->command, s.command);
  EXPECT_EQ(back->env, s.env);
  EXPECT_EQ(back->tasks, 4);
  EXPECT_TRUE(back->gang);
  EXPECT_EQ(back->ranks_per_node, 2);
  EXPECT_EQ(back->after, s.after);
  EXPECT_EQ(back->resources.milli_cpus, 1500);
  EXPECT_EQ(back->resources.min_gpu_memory_mib, 40000);
  EXPECT_EQ(back->resources.gpu_model, "H100");
  EXPECT_DOUBLE_EQ(back->est_time_s, 60);
  EXPECT_TRUE(back->checkpointable);
  EXPECT_EQ(back->max_retries, 2);
}

TEST(Convert, ArrayRangeTravelsAsNumbersAndIsChecked) {
  JobSpec s;
  s.command = {"true"};
  s.array = {.first = 2, .last = 11, .throttle = 3};
  v1::JobSpec p;
  ToProto(s, &p);
  ASSERT_TRUE(p.has_array());
  EXPECT_EQ(p.array().first(), 2);
  EXPECT_EQ(p.array().last(), 11);
  EXPECT_EQ(p.array().throttle(), 3);
  EXPECT_EQ(FormatArrayRange(p), "2-11%3");
  auto back = FromProto(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->array.first, 2);
  EXPECT_EQ(back->array.last, 11);
  EXPECT_EQ(back->array.throttle, 3);
  EXPECT_EQ(back->TaskCount(), 10);

  // A range that is present but empty would otherwise read as "not an array": refused.
  p.mutable_array()->set_first(9);
  p.mutable_array()->set_last(3);
  auto bad = FromProto(p);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "array range 9-3 ends before it starts");

  p.mutable_array()->set_first(-2147483647 - 1);
  p.mutable_array()->set_last(2147483647);
  EXPECT_FALSE(FromProto(p).ok());

  v1::JobSpec none;
  none.add_command("true");
  EXPECT_EQ(FormatArrayRange(none), "");
  EXPECT_TRUE(FromProto(none)->array.empty());
}

TEST(Convert, AnArrayRangeSentAsTextIsRefused) {
  v1::JobSpec p;
  p.add_command("true");
  p.set_legacy_array("0-9");
  auto r = FromProto(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("older than this coordinator"), std::string::npos);
}

TEST(Convert, StatesMapOneToOne) {
  for (size_t i = 0; i < kTaskStateCount; ++i) {
    const auto core = static_cast<TaskState>(i);
    const v1::TaskState wire = ToProto(core);
    EXPECT_NE(wire, v1::TASK_STATE_UNSPECIFIED);
    EXPECT_EQ(FromProto(wire).value(), core);
    EXPECT_STREQ(StateName(wire), TaskStateName(core));
    EXPECT_EQ(ParseWireTaskState(TaskStateName(core)), wire);
  }
  for (int i = 0; i <= static_cast<int>(JobState::kOom); ++i) {
    const auto core = static_cast<JobState>(i);
    const v1::JobState wire = ToProto(core);
    EXPECT_NE(wire, v1::JOB_STATE_UNSPECIFIED);
    EXPECT_EQ(FromProto(wire).value(), core);
    EXPECT_STREQ(StateName(wire), JobStateName(core));
  }
  EXPECT_FALSE(FromProto(v1::TASK_STATE_UNSPECIFIED).ok());
  EXPECT_FALSE(FromProto(static_cast<v1::TaskState>(42)).ok());  // a newer peer's
  EXPECT_FALSE(FromProto(v1::JOB_STATE_UNSPECIFIED).ok());
  EXPECT_STREQ(StateName(static_cast<v1::JobState>(42)), "unknown");
  EXPECT_EQ(ParseWireJobState("runing"), std::nullopt);
  std::ostringstream os;
  os << v1::JOB_STATE_TIMEOUT << " " << v1::TASK_STATE_LAUNCHING;
  EXPECT_EQ(os.str(), "timeout launching");
}

TEST(Convert, WireDefaults) {
  v1::JobSpec p;
  p.add_command("true");
  auto s = FromProto(p);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->tasks, 1);
  EXPECT_EQ(s->resources.milli_cpus, ResourceRequest{}.milli_cpus);
  EXPECT_TRUE(s->Validate().ok());
}

TEST(Convert, NodeSpecRoundTrip) {
  NodeSpec n{.name = "n1",
             .milli_cpus = 8000,
             .memory_mib = 32000,
             .gpus = {{.index = 0, .model = "virtual", .memory_mib = 16384, .is_virtual = true},
                      {.index = 1, .model = "virtual", .memory_mib = 16384, .is_virtual = true}},
             .speed = 2.0};
  v1::NodeSpec p;
  ToProto(n, &p, "10.0.0.5");
  EXPECT_EQ(p.address(), "10.0.0.5");
  NodeSpec back = FromProto(p);
  EXPECT_EQ(back.name, "n1");
  EXPECT_EQ(back.milli_cpus, 8000);
  ASSERT_EQ(back.gpus.size(), 2u);
  EXPECT_EQ(back.gpus[1].index, 1);
  EXPECT_TRUE(back.gpus[1].is_virtual);
  EXPECT_DOUBLE_EQ(back.speed, 2.0);
  p.set_speed(0);
  EXPECT_DOUBLE_EQ(FromProto(p).speed, 1.0);
}

TEST(Convert, StatusMapping) {
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
  EXPECT_EQ(ToGrpcStatus(Status::NotFound("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(Status::Infeasible("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  auto g = ToGrpcStatus(Status::InvalidArgument("bad spec"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "bad spec");
  EXPECT_EQ(FromGrpcStatus(g).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "")).code(),
            StatusCode::kUnavailable);
  // Codes that share a gRPC code still come back apart.
  EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(Status::Infeasible("x"))).code(), StatusCode::kInfeasible);
  EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(Status::FailedPrecondition("x"))).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromGrpcStatus(ToGrpcStatus(Status::Unschedulable("x"))).code(),
            StatusCode::kUnschedulable);
  // A detail that is not muster's (or out of range) falls back to the gRPC code.
  EXPECT_EQ(
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "m", "muster-status:99")).code(),
      StatusCode::kNotFound);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "m")).code(),
            StatusCode::kUnavailable);
}

TEST(Convert, ProgressLine) {
  ProgressLine l{
      .done = 3, .total = 10, .fields = {{"done", "3"}, {"total", "10"}, {"loss", "0.5"}}};
  v1::Progress p;
  ToProto(l, 1234, &p);
  EXPECT_DOUBLE_EQ(p.done(), 3);
  EXPECT_EQ(p.fields().at("loss"), "0.5");
  EXPECT_EQ(p.time_ms(), 1234);
}

}  // namespace
}  // namespace muster::cluster
