#include "cluster/client/job_spec_input.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace muster::client {
namespace {

const SpecDefaults kDefaults{.user = "alice", .workdir = "/home/alice"};

TEST(JobSpecInput, DefaultsApplyToAPlainCommand) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"/usr/bin/python3", "train.py"};
  auto s = BuildJobSpec(in, kDefaults);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "python3");
  EXPECT_EQ(s->user, "alice");
  EXPECT_EQ(s->workdir, "/home/alice");
  EXPECT_EQ(s->tasks, 1);
  EXPECT_FALSE(s->gang);
  EXPECT_EQ(s->resources.milli_cpus, 1000);
  EXPECT_EQ(s->resources.memory_mib, 512);
  EXPECT_EQ(s->resources.gpus, 0);
}

TEST(JobSpecInput, TasksAboveOneMakeAGangUnlessTurnedOff) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"x"};
  ASSERT_TRUE(SetSpecField(in, "tasks", "4").ok());
  EXPECT_TRUE(BuildJobSpec(in, kDefaults)->gang);
  ASSERT_TRUE(SetSpecField(in, "gang", "false").ok());
  EXPECT_FALSE(BuildJobSpec(in, kDefaults)->gang);
}

TEST(JobSpecInput, ArrayIsNeverAGang) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"x"};
  ASSERT_TRUE(SetSpecField(in, "array", "0-99%10").ok());
  auto s = BuildJobSpec(in, kDefaults);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->gang);
  EXPECT_EQ(s->TaskCount(), 100);
  EXPECT_EQ(s->array.throttle, 10);
  ASSERT_TRUE(SetSpecField(in, "gang", "yes").ok());
  EXPECT_FALSE(BuildJobSpec(in, kDefaults).ok());
}

TEST(JobSpecInput, ScalarValuesParse) {
  JobSpecInput in;
  ASSERT_TRUE(SetSpecField(in, "cpus", "500m").ok());
  ASSERT_TRUE(SetSpecField(in, "mem", "4G").ok());
  ASSERT_TRUE(SetSpecField(in, "gpu-mem", "16G").ok());
  ASSERT_TRUE(SetSpecField(in, "est_time", "1h30m").ok());
  ASSERT_TRUE(SetSpecField(in, "after", "3,4").ok());
  ASSERT_TRUE(SetSpecField(in, "after", "7").ok());
  ASSERT_TRUE(SetSpecField(in, "env", "A=b=c").ok());
  ASSERT_TRUE(SetSpecField(in, "log-limit", "16M").ok());
  EXPECT_EQ(*in.log_limit_mib, 16);
  auto built = BuildJobSpec({.command = std::vector<std::string>{"true"}, .log_limit_mib = 16},
                            {.user = "u", .workdir = "/tmp"});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ(built->log_limit_mib, 16);
  EXPECT_EQ(*in.milli_cpus, 500);
  EXPECT_EQ(*in.memory_mib, 4096);
  EXPECT_EQ(*in.min_gpu_memory_mib, 16384);
  EXPECT_DOUBLE_EQ(*in.est_time_s, 5400);
  EXPECT_EQ(*in.after, (std::vector<JobId>{3, 4, 7}));
  EXPECT_EQ(in.env.at("A"), "b=c");
}

TEST(JobSpecInput, BadValuesSayWhatWasExpected) {
  JobSpecInput in;
  Status st = SetSpecField(in, "cpus", "lots");
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'lots'"), std::string::npos);
  EXPECT_FALSE(SetSpecField(in, "tasks", "0").ok());
  EXPECT_FALSE(SetSpecField(in, "tasks", "3x").ok());
  EXPECT_FALSE(SetSpecField(in, "mem", "12Q").ok());
  EXPECT_FALSE(SetSpecField(in, "array", "9-3").ok());
  EXPECT_FALSE(SetSpecField(in, "after", "a,b").ok());
  EXPECT_FALSE(SetSpecField(in, "env", "=x").ok());
  EXPECT_FALSE(SetSpecField(in, "gang", "maybe").ok());
  EXPECT_FALSE(SetSpecField(in, "est_time", "5 parsecs").ok());
  EXPECT_FALSE(SetSpecField(in, "colour", "blue").ok());
  EXPECT_FALSE(SetSpecField(in, "log_limit", "0").ok());
  EXPECT_FALSE(SetSpecField(in, "log_limit", "lots").ok());
}

TEST(JobSpecInput, DurationForms) {
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("1.5m"), 90);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("2h"), 7200);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("1d"), 86400);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("250ms"), 0.25);
  EXPECT_FALSE(ParseDurationSeconds(""));
  EXPECT_FALSE(ParseDurationSeconds("h"));
  EXPECT_FALSE(
      ParseDurationSeconds("5"
                           "x"));
  EXPECT_FALSE(ParseDurationSeconds("-5"));
}

TEST(JobSpecInput, TimeLimitsFromFlagsAndFiles) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"sleep", "30"};
  ASSERT_TRUE(SetSpecField(in, "time", "1:30:00").ok());
  ASSERT_TRUE(SetSpecField(in, "signal-grace", "10s").ok());
  auto s = BuildJobSpec(in, kDefaults);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->time_limit_ms, 5400000);
  EXPECT_EQ(s->signal_grace_ms, 10000);
  Status bad = SetSpecField(in, "time", "soon");
  EXPECT_NE(bad.message().find("'soon' is not a time limit like 2h"), std::string::npos)
      << bad.message();
  EXPECT_FALSE(SetSpecField(in, "time", "0").ok());
  ASSERT_TRUE(SetSpecField(in, "requeue_on_timeout", "true").ok());
  EXPECT_NE(BuildJobSpec(in, kDefaults).status().message().find("checkpointable"),
            std::string::npos);
  auto y = ParseJobSpecYaml("command: [sleep, '30']\ntime: 2h\ncheckpointable: true\n"
                            "requeue-on-timeout: true\n");
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  auto ys = BuildJobSpec(*y, kDefaults);
  ASSERT_TRUE(ys.ok()) << ys.status().ToString();
  EXPECT_EQ(ys->time_limit_ms, 7200000);
  EXPECT_TRUE(ys->requeue_on_timeout);
}

TEST(JobSpecInput, DependencyKindsAndSingleton) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"true"};
  ASSERT_TRUE(SetSpecField(in, "afterok", "1,2").ok());
  ASSERT_TRUE(SetSpecField(in, "afterany", "3").ok());
  ASSERT_TRUE(SetSpecField(in, "afternotok", "4").ok());
  ASSERT_TRUE(SetSpecField(in, "singleton", "yes").ok());
  auto s = BuildJobSpec(in, kDefaults);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->after, (std::vector<JobId>{1, 2}));
  EXPECT_EQ(s->after_any, (std::vector<JobId>{3}));
  EXPECT_EQ(s->after_notok, (std::vector<JobId>{4}));
  EXPECT_TRUE(s->singleton);
  auto y = ParseJobSpecYaml("command: 'true'\nafterany: [5, 6]\nafter-notok: 7\n");
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(*y->after_any, (std::vector<JobId>{5, 6}));
  EXPECT_EQ(*y->after_notok, (std::vector<JobId>{7}));
  EXPECT_FALSE(SetSpecField(in, "afterany", "x").ok());
}

TEST(JobSpecYaml, ReadsEveryField) {
  auto in = ParseJobSpecYaml(R"(
name: train
user: bob
class: cnn
command: [python3, train.py, --epochs, "3"]
env: {LR: "0.1", SEED: 7}
workdir: /data
tasks: 2
ranks-per-node: 1
priority: 5
cpus: 2
mem: 8G
gpus: 1
gpu_mem: 16G
gpu_model: H100
est_time: 10m
est_work: 1e6
checkpointable: true
retries: 2
after: [1, 2]
)");
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  auto s = BuildJobSpec(*in, kDefaults);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "train");
  EXPECT_EQ(s->user, "bob");
  EXPECT_EQ(s->job_class, "cnn");
  EXPECT_EQ(s->command, (std::vector<std::string>{"python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(s->env.at("SEED"), "7");
  EXPECT_EQ(s->workdir, "/data");
  EXPECT_TRUE(s->gang);
  EXPECT_EQ(s->ranks_per_node, 1);
  EXPECT_EQ(s->priority, 5);
  EXPECT_EQ(s->resources.milli_cpus, 2000);
  EXPECT_EQ(s->resources.memory_mib, 8192);
  EXPECT_EQ(s->resources.gpus, 1);
  EXPECT_EQ(s->resources.min_gpu_memory_mib, 16384);
  EXPECT_EQ(s->resources.gpu_model, "H100");
  EXPECT_DOUBLE_EQ(s->est_time_s, 600);
  EXPECT_DOUBLE_EQ(s->est_work, 1e6);
  EXPECT_TRUE(s->checkpointable);
  EXPECT_EQ(s->max_retries, 2);
  EXPECT_EQ(s->after, (std::vector<JobId>{1, 2}));
}

TEST(JobSpecYaml, StringCommandRunsThroughTheShell) {
  auto in = ParseJobSpecYaml("command: echo hi > out.txt\n");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(*in->command, (std::vector<std::string>{"/bin/sh", "-c", "echo hi > out.txt"}));
}

TEST(JobSpecYaml, ErrorsNameTheKey) {
  auto unknown = ParseJobSpecYaml("command: x\ngpuz: 2\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key 'gpuz' (line 2)"), std::string::npos)
      << unknown.status().message();
  auto bad = ParseJobSpecYaml("command: x\ncpus: many\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("key 'cpus'"), std::string::npos);
  auto nested = ParseJobSpecYaml("command: x\ntasks: [1, 2]\n");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("key 'tasks'"), std::string::npos);
  EXPECT_FALSE(ParseJobSpecYaml("command: [unclosed\n").ok());
  EXPECT_FALSE(ParseJobSpecYaml("- a\n- b\n").ok());
  EXPECT_FALSE(ParseJobSpecYaml("").ok());
}

TEST(JobSpecInput, OnPreemptIsRequeueOrCancelFromFlagsFilesAndTheUnknownKeyListNamesIt) {
  JobSpecInput in;
  in.command = std::vector<std::string>{"x"};
  EXPECT_FALSE(BuildJobSpec(in, kDefaults)->cancel_on_preempt);  // requeued by default
  ASSERT_TRUE(SetSpecField(in, "on-preempt", "cancel").ok());
  EXPECT_TRUE(BuildJobSpec(in, kDefaults)->cancel_on_preempt);
  Status bad = SetSpecField(in, "on_preempt", "sometimes");
  EXPECT_NE(bad.message().find("requeue or cancel"), std::string::npos) << bad.message();
  EXPECT_TRUE(*in.cancel_on_preempt);  // unchanged by the bad value
  auto file = ParseJobSpecYaml("command: x\non_preempt: requeue\n");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_FALSE(*file->cancel_on_preempt);
  auto unknown = ParseJobSpecYaml("command: x\non_preemption: cancel\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("output, error, on_preempt"), std::string::npos)
      << unknown.status().message();
}

TEST(JobSpecInput, FlagsOverlayTheFile) {
  auto file = ParseJobSpecYaml("command: [a]\npriority: 1\ngpus: 2\nenv: {A: '1', B: '2'}\n");
  ASSERT_TRUE(file.ok());
  JobSpecInput flags;
  ASSERT_TRUE(SetSpecField(flags, "priority", "9").ok());
  ASSERT_TRUE(SetSpecField(flags, "env", "B=3").ok());
  JobSpecInput merged = *file;
  OverlaySpec(merged, flags);
  auto s = BuildJobSpec(merged, kDefaults);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->priority, 9);
  EXPECT_EQ(s->resources.gpus, 2);
  EXPECT_EQ(s->env.at("A"), "1");
  EXPECT_EQ(s->env.at("B"), "3");
}

TEST(JobSpecInput, CrossFieldRules) {
  JobSpecInput none;
  EXPECT_FALSE(BuildJobSpec(none, kDefaults).ok());  // no command
  JobSpecInput in;
  in.command = std::vector<std::string>{"x"};
  ASSERT_TRUE(SetSpecField(in, "gpu_model", "A100").ok());
  EXPECT_FALSE(BuildJobSpec(in, kDefaults).ok());  // model without gpus
  JobSpecInput both;
  both.command = std::vector<std::string>{"x"};
  ASSERT_TRUE(SetSpecField(both, "tasks", "2").ok());
  ASSERT_TRUE(SetSpecField(both, "array", "0-3").ok());
  EXPECT_FALSE(BuildJobSpec(both, kDefaults).ok());
  JobSpecInput odd;
  odd.command = std::vector<std::string>{"x"};
  ASSERT_TRUE(SetSpecField(odd, "tasks", "3").ok());
  ASSERT_TRUE(SetSpecField(odd, "ranks_per_node", "2").ok());
  EXPECT_FALSE(BuildJobSpec(odd, kDefaults).ok());  // 3 ranks not a multiple of 2
}

}  // namespace
}  // namespace muster::client

namespace muster::client {
namespace {

// Every shipped example job file parses and builds a valid spec.
TEST(JobSpecYaml, ShippedExamplesAreValid) {
  const char* src = std::getenv("MUSTER_SOURCE_DIR");
  std::filesystem::path dir =
      (src != nullptr ? std::filesystem::path(src)
                      : std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "..") /
      "examples" / "jobs";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ParseJobSpecYaml(ss.str());
    ASSERT_TRUE(parsed.ok()) << e.path() << ": " << parsed.status().message();
    auto spec = BuildJobSpec(*parsed, kDefaults);
    EXPECT_TRUE(spec.ok()) << e.path() << ": " << spec.status().message();
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace muster::client
