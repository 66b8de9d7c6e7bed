// The mutable view of free capacity that one scheduling pass works on.
//
// ClusterState copies each node's free CPU, memory and GPUs from the snapshot and is then
// debited (Take) and credited (Give) as the pass places tasks and as the projection replays
// predicted finishes. GPUs are a bit mask per node (bit i = spec.gpus[i] free), so a node may have
// at most 64 GPUs. Ready nodes are indexed by their number of free GPUs (one bitset of node
// indices per count), so candidate generation skips full nodes without touching them and visits
// nodes in a deterministic order: by free-GPU count (ascending or descending), then node index.
//
// Per-GPU constraints (minimum memory, model substring) are resolved once per distinct constraint
// into a "GPU class": a mask per node of the GPUs that qualify. Class 0 is "any GPU".
//
// A ReservationGuard protects the EASY-backfill reservation: while installed, a task that would
// still be running at guard.at on a reserved node may use only GPUs outside the reserved ones and
// CPU/memory out of the node's spare at that time.
//
// Not thread-safe (one pass owns one state). Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "sched/snapshot.h"

namespace muster::sched {

// One task's demand, with its GPU constraints resolved to a class of ClusterState.
struct TaskShape {
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  int gpus = 0;
  int gpu_class = 0;
};

// Free capacity of one node during the pass.
struct NodeSlot {
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  uint64_t gpu_free = 0;
  int free_gpus = 0;
  bool ready = false;
};

struct ReservationGuard {
  struct NodeGuard {
    bool reserved = false;
    uint64_t gpus = 0;       // GPUs promised to the reservation
    MilliCpu spare_cpu = 0;  // CPU free at `at` after the reservation
    MiB spare_mem = 0;
  };
  TimeMs at = 0;
  std::vector<NodeGuard> nodes;  // one per node; empty = no guard
};

// What Take() handed out; Give() returns exactly this.
struct Grant {
  int node = -1;
  MilliCpu milli_cpus = 0;
  MiB memory_mib = 0;
  uint64_t gpus = 0;
  bool guarded = false;  // debited from the reservation guard's spare
};

class ClusterState {
 public:
  // Copies free capacity from the snapshot. Fails if a node has more than 64 GPUs or its
  // free GPU vector does not match its spec. REQUIRES: the snapshot outlives the state (node
  // specs are read in place).
  static Result<ClusterState> FromSnapshot(const ClusterSnapshot& snapshot);

  // A state kept between passes (sched::Scheduler): Rebind points it at the next snapshot of
  // the same nodes, Refresh re-reads one node's free capacity from it. REQUIRES for both: the
  // snapshot has the nodes FromSnapshot saw, with the same specs and states; 0 <= node < size().
  void Rebind(const ClusterSnapshot& snapshot) { nodes_ = &snapshot.nodes; }
  void Refresh(int node);

  // A pass's journal: after BeginPass, each node's slot is saved before its first change, and
  // EndPass restores every saved slot, so the state is again what it was at BeginPass, at a cost
  // proportional to the nodes the pass touched. Copies of the state made meanwhile (backfill's
  // look-ahead) carry the journal but must not call EndPass.
  void BeginPass();
  void EndPass();

  int size() const { return static_cast<int>(slots_.size()); }
  const NodeSpec& spec(int node) const { return (*nodes_)[node].spec; }
  const NodeView& view(int node) const { return (*nodes_)[node]; }
  // True if some node runs only one user's tasks (then where a shape fits depends on the user).
  bool user_restricted() const { return user_restricted_; }
  const NodeSlot& slot(int node) const { return slots_[node]; }
  double speed(int node) const { return speeds_[node]; }
  double max_speed() const { return max_speed_; }

  // Resolves r's per-GPU constraints to a class id (cached; class 0 = unconstrained).
  TaskShape ShapeOf(const ResourceRequest& r);
  // GPUs of `node` that satisfy the class's constraints.
  uint64_t ClassMask(int node, int gpu_class) const { return class_masks_[gpu_class][node]; }

  // Number of tasks of `shape` that fit on the node now, for tasks that finish at finish_ms
  // (the guard applies when finish_ms > guard.at). 0 for nodes that are not ready.
  int TasksThatFit(int node, const TaskShape& shape, TimeMs finish_ms) const;
  // Debits one task. REQUIRES: TasksThatFit(node, shape, finish_ms) >= 1. Takes the
  // lowest-numbered qualifying GPUs.
  Grant Take(int node, const TaskShape& shape, TimeMs finish_ms);
  // Credits back a Grant (rollback of a Take, or a predicted finish in the projection).
  void Give(const Grant& g);

  void SetGuard(ReservationGuard guard) { guard_ = std::move(guard); }
  void ClearGuard() { guard_ = {}; }
  bool guarded() const { return !guard_.nodes.empty(); }

  // Calls visit(node) for each ready node with at least min_free_gpus free GPUs, ordered by
  // free-GPU count (most_free_first or fewest first), then by node index, until visit returns
  // false.
  template <typename Visit>
  void ForEachCandidate(int min_free_gpus, bool most_free_first, Visit&& visit) const;

 private:
  void Index(int node);
  void Unindex(int node);
  // Unindex, first journaling the slot when a pass is open.
  void Change(int node);
  static NodeSlot SlotOf(const NodeView& v);

  const std::vector<NodeView>* nodes_ = nullptr;
  std::vector<NodeSlot> slots_;
  std::vector<double> speeds_;
  double max_speed_ = 1.0;
  bool user_restricted_ = false;
  int max_gpus_ = 0;
  std::vector<std::vector<uint64_t>> by_free_;      // [free count] -> bitset of node indices
  std::vector<std::vector<uint64_t>> class_masks_;  // [class][node] -> qualifying GPUs
  std::map<std::pair<MiB, std::string>, int> classes_;
  ReservationGuard guard_;
  bool journaling_ = false;
  std::vector<uint32_t> saved_in_;                   // [node] -> pass number that saved it
  uint32_t pass_ = 0;
  std::vector<std::pair<int, NodeSlot>> journal_;    // slots as they were at BeginPass
};

template <typename Visit>
void ClusterState::ForEachCandidate(int min_free_gpus, bool most_free_first, Visit&& visit) const {
  if (min_free_gpus < 0) min_free_gpus = 0;
  for (int step = 0; step <= max_gpus_ - min_free_gpus; ++step) {
    int k = most_free_first ? max_gpus_ - step : min_free_gpus + step;
    const auto& words = by_free_[k];
    for (size_t w = 0; w < words.size(); ++w) {
      uint64_t bits = words[w];
      while (bits != 0) {
        int b = __builtin_ctzll(bits);
        bits &= bits - 1;
        if (!visit(static_cast<int>(w * 64 + b))) return;
      }
    }
  }
}

}  // namespace muster::sched
