// The release timeline: predicted finishes of running tasks (from the snapshot) and of tasks the
// pass starts or predicts, in time order. Walking it forward while crediting each release back to
// a ClusterState gives the free capacity at any future instant — the reservation timeline of
// EASY backfill (Slurm keeps the same idea as node_space_map) and the clock of the projection.
//
// Ties are broken by insertion order, so the walk is deterministic. A release carries an owner
// slot (the pass's job index, or -1) so array throttles can count running tasks down.
// Not thread-safe; pure.
#pragma once

#include <algorithm>
#include <cstdint>
#include <queue>
#include <vector>

#include "sched/placement_state.h"

namespace muster::sched {

struct Release {
  TimeMs at = 0;
  int64_t seq = 0;
  Grant grant;
  int owner = -1;
};

class ReleaseTimeline {
 public:
  // Adds a release of `grant` at time `at`.
  void Add(TimeMs at, const Grant& grant, int owner);
  // Adds the running tasks of the snapshot; owner_of(job id) gives the owner slot or -1.
  template <typename OwnerOf>
  void AddRunning(const ClusterSnapshot& snapshot, OwnerOf&& owner_of);

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Time of the earliest release. REQUIRES: !empty().
  TimeMs NextTime() const { return heap_.top().at; }
  // Credits every release at or before t to `state`, calling on_release(owner) for each.
  template <typename OnRelease>
  void ReleaseUntil(TimeMs t, ClusterState& state, OnRelease&& on_release);

 private:
  struct Later {
    bool operator()(const Release& a, const Release& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  std::priority_queue<Release, std::vector<Release>, Later> heap_;
  int64_t seq_ = 0;
};

template <typename OwnerOf>
void ReleaseTimeline::AddRunning(const ClusterSnapshot& snapshot, OwnerOf&& owner_of) {
  for (const auto& r : snapshot.running) {
    if (r.node < 0 || r.node >= static_cast<int>(snapshot.nodes.size())) continue;
    Grant g{r.node, r.resources.milli_cpus, r.resources.memory_mib, 0, false};
    const int count = static_cast<int>(snapshot.nodes[r.node].spec.gpus.size());
    for (int gpu : r.gpus)
      if (gpu >= 0 && gpu < count && gpu < 64) g.gpus |= uint64_t{1} << gpu;
    Add(std::max(r.predicted_finish_ms, snapshot.now_ms), g, owner_of(r.task.job));
  }
}

template <typename OnRelease>
void ReleaseTimeline::ReleaseUntil(TimeMs t, ClusterState& state, OnRelease&& on_release) {
  while (!heap_.empty() && heap_.top().at <= t) {
    Release r = heap_.top();
    heap_.pop();
    state.Give(r.grant);
    on_release(r.owner);
  }
}

}  // namespace muster::sched
