// The progress-line parser: every line a task prints goes through it.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cluster/common/progress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = muster::ParseProgressLine(std::string_view(reinterpret_cast<const char*>(data), size));
  // A parsed line has finite numbers (the coordinator shows and stores them).
  if (p && (!std::isfinite(p->done) || !std::isfinite(p->total))) __builtin_trap();
  return 0;
}
