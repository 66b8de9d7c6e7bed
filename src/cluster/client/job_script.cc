// See job_script.h.
#include "cluster/client/job_script.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace muster::client {

namespace {

constexpr size_t kMaxScript = 256 << 10;
constexpr size_t kMaxExportVars = 900;         // below SpecLimits::kEnvVars, for --env
constexpr size_t kMaxExportBytes = 900 << 10;  // below SpecLimits::kEnvBytes

// Variables that mean something only in the submitter's session, or are muster's own.
bool Skipped(const std::string& name) {
  // Who the task runs as is the agent's to say: HOME, USER, LOGNAME and SHELL come from the
  // task's user on the node, also when an admin submits for someone else.
  static const std::set<std::string> kSession = {"HOME",
                                                 "USER",
                                                 "LOGNAME",
                                                 "SHELL",
                                                 "MAIL",
                                                 "PWD",
                                                 "OLDPWD",
                                                 "SHLVL",
                                                 "_",
                                                 "HOSTNAME",
                                                 "SSH_AUTH_SOCK",
                                                 "SSH_CONNECTION",
                                                 "SSH_CLIENT",
                                                 "SSH_TTY",
                                                 "XDG_RUNTIME_DIR",
                                                 "XDG_SESSION_ID",
                                                 "DBUS_SESSION_BUS_ADDRESS",
                                                 "TMUX",
                                                 "TMUX_PANE",
                                                 "STY",
                                                 "WINDOWID",
                                                 "TERM_SESSION_ID"};
  return name.rfind("MUSTER_", 0) == 0 || kSession.contains(name);
}

bool IsShell(const std::string& interpreter) {
  const std::string base = std::filesystem::path(interpreter).filename().string();
  return base == "sh" || base == "bash" || base == "dash" || base == "zsh" || base == "ksh";
}

const std::set<std::string>& Switches() {
  static const std::set<std::string> s = {"gang", "no-gang", "checkpointable", "requeue-on-timeout",
                                          "singleton"};
  return s;
}

}  // namespace

Result<std::vector<std::string>> SplitWords(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        word += text[++i];
      } else {
        word += c;
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '#' && !in_word) {
      break;  // a comment after the flags
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) return Status::InvalidArgument(std::string("unclosed ") + quote + " quote");
  if (in_word) out.push_back(std::move(word));
  return out;
}

Result<std::optional<JobScript>> ReadJobScript(const std::string& path,
                                               const std::vector<std::string>& args) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::optional<JobScript>();
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) return Status::InvalidArgument("cannot read " + path);
  std::string head(2, '\0');
  in.read(head.data(), 2);
  const bool shebang = in.gcount() == 2 && head == "#!";
  in.seekg(0);
  // A binary is no script, whatever its size; a script is read whole.
  std::string text;
  text.resize(std::min<size_t>(size, kMaxScript + 1));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.find('\0') != std::string::npos) return std::optional<JobScript>();
  JobScript s;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  bool directives = false;
  std::string interpreter;
  while (std::getline(lines, line)) {
    ++number;
    if (number == 1 && shebang) {
      interpreter = line.substr(2);
      continue;
    }
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    if (line[start] != '#') break;  // the first command ends the header
    if (line.compare(start, 7, "#MUSTER") != 0) continue;
    const std::string rest = line.substr(start + 7);
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') continue;  // "#MUSTERY"
    auto words = SplitWords(rest);
    if (!words.ok())
      return Status::InvalidArgument(path + " line " + std::to_string(number) + ": " +
                                     words.status().message());
    s.directives.insert(s.directives.end(), words->begin(), words->end());
    directives = true;
  }
  if (!shebang && !directives) return std::optional<JobScript>();
  if (size > kMaxScript)
    return Status::InvalidArgument(path +
                                   " is larger than 256 KiB; run it from the node's file "
                                   "system instead: -- /bin/sh " +
                                   path);
  std::vector<std::string> interp;
  if (shebang) {
    auto words = SplitWords(interpreter);
    if (!words.ok() || words->empty())
      return Status::InvalidArgument(path + " line 1: the #! line names no interpreter");
    interp = *words;
    // "#!/usr/bin/env bash": the interpreter is env's argument.
    if (std::filesystem::path(interp[0]).filename() == "env" && interp.size() > 1)
      interp.erase(interp.begin());
  }
  if (!shebang || IsShell(interp[0])) {
    s.command = shebang ? interp : std::vector<std::string>{"/bin/sh"};
    s.command.insert(s.command.end(), {"-c", text, path});  // $0: the path as given
  } else {
    s.command = {std::filesystem::absolute(path).lexically_normal().string()};
  }
  s.command.insert(s.command.end(), args.begin(), args.end());
  return std::optional<JobScript>(std::move(s));
}

Status ApplyDirectives(const std::vector<std::string>& flags, JobSpecInput& in,
                       std::optional<std::string>* export_mode) {
  for (size_t i = 0; i < flags.size(); ++i) {
    const std::string& word = flags[i];
    if (word.rfind("--", 0) != 0 || word.size() < 3)
      return Status::InvalidArgument("'" + word + "' is not a flag (directives are --flag VALUE)");
    std::string key = word.substr(2), value;
    const size_t eq = key.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    if (key == "file" || key == "wait" || key == "quiet" || key == "coordinator" || key == "wrap")
      return Status::InvalidArgument("--" + key + " cannot be a directive");
    if (Switches().contains(key)) {
      if (has_value) return Status::InvalidArgument("--" + key + " takes no value");
      if (key == "gang" || key == "no-gang") in.gang = key == "gang";
      if (key == "checkpointable") in.checkpointable = true;
      if (key == "requeue-on-timeout") in.requeue_on_timeout = true;
      if (key == "singleton") in.singleton = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= flags.size()) return Status::InvalidArgument("--" + key + " needs a value");
      value = flags[++i];
    }
    if (key == "export") {
      *export_mode = value;
      continue;
    }
    std::string field = key;
    std::replace(field.begin(), field.end(), '-', '_');
    Status st = SetSpecField(in, field, value);
    if (!st.ok())
      return Status::InvalidArgument(
          "--" + key + ": " +
          (st.message() == "unknown key" ? std::string("not a submit flag") : st.message()));
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> ExportedEnv(
    const std::string& mode, const std::vector<std::string>& environment) {
  std::map<std::string, std::string> all;
  for (const auto& kv : environment) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::map<std::string, std::string> out;
  if (mode == "NONE") return out;
  if (mode == "ALL") {
    size_t bytes = 0;
    for (const auto& [k, v] : all)
      if (!Skipped(k)) {
        out[k] = v;
        bytes += k.size() + v.size();
      }
    if (out.size() > kMaxExportVars || bytes > kMaxExportBytes)
      return Status::InvalidArgument(
          "your environment has " + std::to_string(out.size()) + " variables (" +
          std::to_string(bytes >> 10) +
          " KiB), too much to export; use --export NONE or --export NAME,NAME");
    return out;
  }
  std::stringstream ss(mode);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (name.empty() || name.find_first_of(" \t") != std::string::npos)
      return Status::InvalidArgument("--export: '" + item +
                                     "' is not ALL, NONE, NAME or NAME=VALUE");
    if (eq != std::string::npos) {
      out[name] = item.substr(eq + 1);
    } else if (auto it = all.find(name); it != all.end()) {
      out[name] = it->second;
    }
  }
  return out;
}

}  // namespace muster::client
