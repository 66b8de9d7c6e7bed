#include "sched/timeline.h"

namespace muster::sched {

void ReleaseTimeline::Add(TimeMs at, const Grant& grant, int owner) {
  heap_.push({at, seq_++, grant, owner});
}

}  // namespace muster::sched
