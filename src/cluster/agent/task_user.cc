// See task_user.h.
#include "cluster/agent/task_user.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace muster::agent {

namespace {

// A user database entry, copied out of getpw*_r's buffer.
struct Entry {
  std::string name, home, shell;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<Entry> Fill(int rc, struct passwd* out, const std::string& who) {
  if (out == nullptr) {
    if (rc != 0 && rc != ENOENT && rc != ESRCH)
      return Status::Internal("cannot read the user database for " + who + ": " +
                              std::strerror(rc));
    return Status::NotFound("user " + who + " does not exist on this node");
  }
  return Entry{out->pw_name, out->pw_dir ? out->pw_dir : "/", out->pw_shell ? out->pw_shell : "",
               out->pw_uid, out->pw_gid};
}

Result<Entry> ByName(const std::string& name) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* out = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out);
  return Fill(rc, out, name);
}

Result<Entry> ByUid(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* out = nullptr;
  int rc = getpwuid_r(uid, &pw, buf.data(), buf.size(), &out);
  return Fill(rc, out, "uid " + std::to_string(uid));
}

std::vector<gid_t> GroupsOf(const Entry& e) {
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (getgrouplist(e.name.c_str(), e.gid, groups.data(), &n) < 0) {
    if (n > 65536) return {e.gid};
    groups.resize(static_cast<size_t>(n) * 2);
    n = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(n));
  return groups;
}

TaskUser From(const Entry& e, bool switch_user) {
  TaskUser u;
  u.switch_user = switch_user;
  u.uid = e.uid;
  u.gid = e.gid;
  u.name = e.name;
  u.home = e.home;
  u.shell = e.shell;
  if (switch_user) u.groups = GroupsOf(e);
  return u;
}

}  // namespace

Result<TaskUser> ResolveTaskUser(const std::string& user, bool allow_root, uid_t agent_uid) {
  auto self = ByUid(agent_uid);
  if (user.empty() || (self.ok() && user == self->name)) {
    if (agent_uid == 0 && !allow_root)  // a launch naming no user would run as root too
      return Status::PermissionDenied("jobs may not run as root on this cluster");
    if (!self.ok()) {  // an agent whose uid has no name: run as it, with what is known
      TaskUser u;
      u.uid = agent_uid;
      u.gid = getegid();
      u.name = "uid" + std::to_string(agent_uid);
      u.home = "/";
      return u;
    }
    return From(*self, false);
  }
  auto target = ByName(user);
  if (!target.ok()) return target.status();
  if (agent_uid != 0) {
    if (target->uid == agent_uid) return From(*target, false);
    return Status::PermissionDenied("this agent runs as " +
                                    (self.ok() ? self->name : std::to_string(agent_uid)) +
                                    " and can run only its own user's tasks, not " + user +
                                    "'s (run the agent as root to run every user's tasks)");
  }
  if (target->uid == 0 && !allow_root)
    return Status::PermissionDenied("jobs may not run as root on this cluster (" + user +
                                    " has uid 0)");
  return From(*target, target->uid != 0);
}

std::map<std::string, std::string> BaseTaskEnv(const TaskUser& u, char** agent_env) {
  std::map<std::string, std::string> env;
  for (char** e = agent_env; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    if (k == "PATH" || k == "LANG" || k == "LANGUAGE" || k == "TZ" || k.rfind("LC_", 0) == 0)
      env[k] = kv.substr(eq + 1);
  }
  if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  env["HOME"] = u.home.empty() ? "/" : u.home;
  env["USER"] = u.name;
  env["LOGNAME"] = u.name;
  env["SHELL"] = u.shell.empty() ? "/bin/sh" : u.shell;
  return env;
}

std::string OnlyUser(uid_t agent_uid) {
  if (agent_uid == 0) return "";
  auto self = ByUid(agent_uid);
  return self.ok() ? self->name : "uid " + std::to_string(agent_uid);
}

}  // namespace muster::agent
