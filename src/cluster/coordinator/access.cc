// See access.h.
#include "cluster/coordinator/access.h"

namespace muster::cluster {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kViewer: return "viewer";
    case Role::kUser: return "user";
    case Role::kAdmin: return "admin";
    case Role::kAgent: return "agent";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kViewer, Role::kUser, Role::kAdmin, Role::kAgent})
    if (name == RoleName(r)) return r;
  return std::nullopt;
}

std::string Caller::Describe() const {
  return name + " (" + RoleName(role) + (via.empty() ? "" : ", " + via) + ")";
}

const char* ActionName(Action a) {
  switch (a) {
    case Action::kReadCluster: return "read cluster state";
    case Action::kReadJobEnv: return "read job environments";
    case Action::kReadLogs: return "read logs";
    case Action::kSubmit: return "submit jobs";
    case Action::kSubmitAs: return "submit jobs for another user";
    case Action::kCancel: return "cancel jobs";
    case Action::kManageUsers: return "manage users";
    case Action::kReadAudit: return "read the audit log";
    case Action::kBackup: return "back up the cluster's state";
    case Action::kCollectGarbage: return "remove finished jobs";
    case Action::kManageNodes: return "drain nodes";
    case Action::kActAsNode: return "act as a node";
  }
  return "do this";
}

Status Authorize(const Caller& caller, Action action, std::string_view owner,
                 std::string_view object) {
  const Role r = caller.role;
  auto denied = [&](const std::string& why) {
    return Status::PermissionDenied("permission denied: " + why);
  };
  auto role_denied = [&] {
    return denied(caller.name + " has the " + RoleName(r) + " role, which may not " +
                  ActionName(action));
  };
  if (r == Role::kAdmin) return Status::Ok();
  if (r == Role::kAgent) {
    if (action != Action::kActAsNode) return role_denied();
    if (owner != caller.name)
      return denied("this agent's credential is for node " + caller.name + ", not " +
                    std::string(owner));
    return Status::Ok();
  }
  switch (action) {
    case Action::kReadCluster:
      return Status::Ok();
    case Action::kReadJobEnv:
    case Action::kReadLogs:
    case Action::kCancel:
      if (r != Role::kUser) return role_denied();
      if (owner != caller.name)
        return denied((object.empty() ? std::string("the job") : std::string(object)) +
                      " belongs to " + std::string(owner));
      return Status::Ok();
    case Action::kSubmit:
      return r == Role::kUser ? Status::Ok() : role_denied();
    case Action::kSubmitAs:
      if (r == Role::kUser && owner == caller.name) return Status::Ok();
      return denied("only admins may submit for another user (" + std::string(owner) + ")");
    case Action::kManageUsers:
    case Action::kReadAudit:
    case Action::kBackup:
    case Action::kCollectGarbage:
    case Action::kManageNodes:
    case Action::kActAsNode:
      return role_denied();
  }
  return role_denied();
}

}  // namespace muster::cluster
