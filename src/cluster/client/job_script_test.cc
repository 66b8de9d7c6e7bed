#include "cluster/client/job_script.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace muster::client {
namespace {

namespace fs = std::filesystem;

class JobScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("muster-script-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

TEST_F(JobScriptTest, DirectivesInTheHeaderAreReadAndTheTextIsTakenNow) {
  const std::string text =
      "#!/bin/bash\n"
      "# a comment\n"
      "#MUSTER --gpus 2 --time 1h\n"
      "#MUSTER --name 'my job' --checkpointable  # trailing words\n"
      "\n"
      "echo hello \"$1\"\n"
      "#MUSTER --gpus 9\n";  // after the first command: not a directive
  const std::string path = Write("train.sh", text);
  auto s = ReadJobScript(path, {"arg"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->directives, (std::vector<std::string>{"--gpus", "2", "--time", "1h", "--name",
                                                        "my job", "--checkpointable"}));
  EXPECT_EQ((*s)->command, (std::vector<std::string>{"/bin/bash", "-c", text, path, "arg"}));
  JobSpecInput in;
  std::optional<std::string> mode;
  ASSERT_TRUE(ApplyDirectives((*s)->directives, in, &mode).ok());
  EXPECT_EQ(in.gpus, 2);
  EXPECT_EQ(in.time_limit_ms, 3600000);
  EXPECT_EQ(in.name, "my job");
  EXPECT_EQ(in.checkpointable, true);
  EXPECT_FALSE(mode);
}

TEST_F(JobScriptTest, ShellsRunFromTheTextOtherInterpretersFromThePath) {
  auto plain = ReadJobScript(Write("plain.sh", "#MUSTER --cpus 2\necho hi\n"), {});
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(plain->has_value());
  EXPECT_EQ((*plain)->command[0], "/bin/sh");
  auto env_bash = ReadJobScript(Write("e.sh", "#!/usr/bin/env bash\necho hi\n"), {});
  ASSERT_TRUE(env_bash.ok() && env_bash->has_value());
  EXPECT_EQ((*env_bash)->command[0], "bash");
  const std::string py = Write("t.py", "#!/usr/bin/python3\n#MUSTER --gpus 1\nprint(1)\n");
  auto p = ReadJobScript(py, {"x"});
  ASSERT_TRUE(p.ok() && p->has_value());
  EXPECT_EQ((*p)->command, (std::vector<std::string>{fs::absolute(py).string(), "x"}));
  // Not scripts: text without #! or #MUSTER, a binary, a missing file.
  auto text = ReadJobScript(Write("notes.txt", "just text\n"), {});
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->has_value());
  auto binary = ReadJobScript("/bin/true", {});
  ASSERT_TRUE(binary.ok());
  EXPECT_FALSE(binary->has_value());
  auto missing = ReadJobScript((dir_ / "nope").string(), {});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(JobScriptTest, BadDirectivesNameTheLineOrTheFlag) {
  auto quote = ReadJobScript(Write("q.sh", "#!/bin/sh\n#MUSTER --name 'oops\necho\n"), {});
  EXPECT_EQ(quote.status().message(), (dir_ / "q.sh").string() + " line 2: unclosed ' quote");
  JobSpecInput in;
  std::optional<std::string> mode;
  EXPECT_EQ(ApplyDirectives({"--gpus", "two"}, in, &mode).message(),
            "--gpus: 'two' is not a GPU count (0 or more)");
  EXPECT_EQ(ApplyDirectives({"--frobnicate", "1"}, in, &mode).message(),
            "--frobnicate: not a submit flag");
  EXPECT_EQ(ApplyDirectives({"--gpus"}, in, &mode).message(), "--gpus needs a value");
  EXPECT_EQ(ApplyDirectives({"gpus"}, in, &mode).message(),
            "'gpus' is not a flag (directives are --flag VALUE)");
  EXPECT_EQ(ApplyDirectives({"--wait"}, in, &mode).message(), "--wait cannot be a directive");
  EXPECT_TRUE(ApplyDirectives({"--export=NONE", "--env", "A=1"}, in, &mode).ok());
  EXPECT_EQ(mode, "NONE");
  EXPECT_EQ(in.env.at("A"), "1");
}

TEST(ExportedEnv, AllLessMustersOwnAndTheSessionsNoneOrAList) {
  const std::vector<std::string> env = {"PATH=/opt/venv/bin:/usr/bin", "CONDA_PREFIX=/opt/c",
                                        "MUSTER_TOKEN=secret", "PWD=/home/a", "SSH_AUTH_SOCK=/x",
                                        "HOME=/root", "USER=root",
                                        "LANG=C.UTF-8"};
  auto all = ExportedEnv("ALL", env);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::map<std::string, std::string>{{"CONDA_PREFIX", "/opt/c"},
                                                      {"LANG", "C.UTF-8"},
                                                      {"PATH", "/opt/venv/bin:/usr/bin"}}));
  EXPECT_TRUE(ExportedEnv("NONE", env)->empty());
  auto list = ExportedEnv("PATH,X=1,ABSENT", env);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::map<std::string, std::string>{{"PATH", "/opt/venv/bin:/usr/bin"},
                                                       {"X", "1"}}));
  EXPECT_FALSE(ExportedEnv("A B", env).ok());
  std::vector<std::string> huge;
  for (int i = 0; i < 1000; ++i) huge.push_back("V" + std::to_string(i) + "=1");
  EXPECT_NE(ExportedEnv("ALL", huge).status().message().find("--export NONE"), std::string::npos);
}

}  // namespace
}  // namespace muster::client
