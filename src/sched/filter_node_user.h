// Filter "node-user": a node whose agent runs as one Unix user, not as root (NodeView::only_user)
// takes only that user's tasks; every other node takes everyone's.
#pragma once

#include <memory>

#include "sched/placement_plugin.h"

namespace muster::sched {

inline constexpr std::string_view kNodeUserFilter = "node-user";

std::unique_ptr<FilterPlugin> MakeNodeUserFilter();

// True if `node` may run tasks of `user`.
inline bool RunsUser(const NodeView& node, const std::string& user) {
  return node.only_user.empty() || node.only_user == user;
}

}  // namespace muster::sched
