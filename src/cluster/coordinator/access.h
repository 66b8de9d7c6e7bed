// Who a caller is and what it may do. Every RPC the coordinator serves identifies its caller
// (identity.h) and asks Authorize before it acts; nothing a client sends about itself (a --user
// flag, a node name) is believed beyond what its role allows.
//
// Roles, each including the one before it (viewer < user < admin); agent stands apart:
//   viewer  read cluster state: nodes, the queue, jobs without their environments, the schedule
//           and balance metrics; never logs.
//   user    a viewer that also submits jobs (as itself) and shows with environment, reads logs
//           of and cancels its own jobs.
//   admin   everything: other users' jobs, submitting on a user's behalf, users and tokens,
//           nodes, the audit log.
//   agent   node RPCs only, as the one node name its credential names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace muster::cluster {

enum class Role { kViewer, kUser, kAdmin, kAgent };
const char* RoleName(Role r);
std::optional<Role> ParseRole(std::string_view name);

struct Caller {
  std::string name;  // user name; for an agent, the node it may act as
  Role role = Role::kViewer;
  std::string via;   // how it was identified: "local uid 1000", "token", ...
  std::string peer;  // where the call came from ("ipv4:10.0.0.2:51234")
  int64_t uid = -1;  // the kernel's uid for local callers; -1 otherwise

  // "alice (user, local uid 1000)".
  std::string Describe() const;
};

enum class Action {
  kReadCluster,  // nodes, queue, schedule, balance, a job without its environment
  kReadJobEnv,   // a job's environment
  kReadLogs,     // a job's logs
  kSubmit,       // a job owned by the caller
  kSubmitAs,     // a job owned by someone else (`owner`)
  kCancel,       // a job
  kManageUsers,  // add, remove, rotate, list users
  kReadAudit,    // the audit log
  kBackup,       // a backup of the whole state (the CA key and every job's environment)
  kCollectGarbage,  // remove finished jobs
  kManageNodes,  // drain and undrain nodes
  kActAsNode,    // register and report as node `owner`
};
const char* ActionName(Action a);

// Ok, or PermissionDenied / Unauthenticated carrying the one line a refused client prints.
// `owner`: the job's owner for job actions, the node's name for kActAsNode. `object` names what
// is refused in the message ("job 12").
Status Authorize(const Caller& caller, Action action, std::string_view owner = {},
                 std::string_view object = {});

}  // namespace muster::cluster
