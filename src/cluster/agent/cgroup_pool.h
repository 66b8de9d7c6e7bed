// CgroupPool: task cgroups kept for the next task instead of being removed and made again.
//
// Making a cgroup and removing it costs the kernel more than the rest of a short task's launch
// (a mkdir and an rmdir in each hierarchy, and v1's memory controller allocates per-CPU state
// for each): with trivial tasks, cgroups took about 40% off what a node could start per second
// (401 against 686 tasks/s without them, decision 0010). So a
// cgroup whose task has ended, and that is empty, waits here (at most max_idle of them) for the
// next task of the same shape (CgroupTree::ShapeOf: the same hierarchies), which gets it with
// its own limits written and its counters noted (CgroupTree::Reuse). Shapes that cannot be
// reused exactly (CgroupTree::Reusable) get a new cgroup each time, named as the caller asks.
//
// Names: a reusable cgroup is named "pool.<agent pid>.<n>" (a restarted agent's names never meet
// its predecessor's); a task's cgroup name travels with it (Launcher's Task::cgroup, the keeper's
// KeptTaskInfo::cgroup). The idle ones are removed when the pool is destroyed; a restarted
// agent removes any its predecessor left, with every cgroup no adopted task is in.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/agent/task_cgroup.h"
#include "core/status.h"

namespace muster::agent {

class CgroupPool {
 public:
  // REQUIRES: `tree` outlives the pool. max_idle 0: nothing is kept (every task gets a new one).
  explicit CgroupPool(const CgroupTree* tree, size_t max_idle = 64);
  ~CgroupPool();
  CgroupPool(const CgroupPool&) = delete;
  CgroupPool& operator=(const CgroupPool&) = delete;

  struct Lease {
    std::string name;  // in the tree
    CreatedCgroup made;
  };
  // A cgroup for a task with `limits`: an idle one of its shape, readied, else a new one (named
  // `own_name` if its shape is not reusable).
  Result<Lease> Take(const std::string& own_name, const TaskLimits& limits);
  // The task in `name` (of `shape`) has ended and its usage has been read: the cgroup waits for
  // the next task if it can (may_keep, empty, reusable, room here), else it is removed, what is
  // left in it killed first. False if it could not be removed. (An adopted task's cgroup, of a
  // shape not known here, is given with may_keep false.)
  // `left`: its last task's limits and the counters' totals when it ended (so that a next task
  // with the same limits finds them set, and nothing is read again); none: all are written and
  // read again at reuse.
  bool Give(const std::string& name, uint32_t shape, bool may_keep = true,
            std::optional<IdleCgroup> left = std::nullopt);
  size_t idle() const;

 private:
  const CgroupTree* tree_;
  const size_t max_idle_;
  mutable std::mutex mu_;
  struct Idle {
    std::string name;
    std::optional<IdleCgroup> left;
  };
  std::multimap<uint32_t, Idle> idle_;  // by shape
  uint64_t next_ = 1;
};

}  // namespace muster::agent
