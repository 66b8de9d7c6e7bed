// The task-graph reader of HEFT (docs/dag-format.md).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sched/heft_dag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)muster::sched::ParseDag(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
