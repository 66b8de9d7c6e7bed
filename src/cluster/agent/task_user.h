// The Unix user a task runs as, and the environment it starts from.
//
// An agent running as root runs each task as the job's owner (Launch.user): the child of
// Spawn sets its supplementary groups (the user's, as initgroups would), then its gid, then its
// uid, before it changes directory and execs, so the working directory and the program are
// checked as that user. A user the node does not know fails the task with a clear reason; root
// only when the coordinator says the cluster allows it. An agent running as anyone else runs only
// its own user's tasks.
//
// The environment is built from scratch, never copied from the agent (whose environment may hold
// credentials): PATH, LANG, LANGUAGE, LC_* and TZ of the agent's, then HOME, USER, LOGNAME and
// SHELL from the user database; the launcher then adds muster's variables and the job's own.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace muster::agent {

struct TaskUser {
  bool switch_user = false;  // the child must change its credentials to these
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
  std::string name, home, shell;
};

// Who runs a task of `user` ("" = the agent's own user) on an agent whose effective uid is
// `agent_uid`. NotFound for a user this node does not know; PermissionDenied for root without
// allow_root (a root agent's own user included), or for another user's task on an agent that is
// not root.
Result<TaskUser> ResolveTaskUser(const std::string& user, bool allow_root, uid_t agent_uid);

// The environment a task of `u` starts from (see the header comment); `agent_env` is environ.
std::map<std::string, std::string> BaseTaskEnv(const TaskUser& u, char** agent_env);

// "" for an agent running as root (it runs every user's tasks), else the name of the only user
// whose tasks it runs (its own; "uid N" when the user database does not know it).
std::string OnlyUser(uid_t agent_uid);

}  // namespace muster::agent
