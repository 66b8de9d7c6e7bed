// The Braun ETC matrix reader (`muster sched --etc`).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sched/etc_matrix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)muster::sched::ParseEtc(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
