// The value parsers behind `muster submit`'s flags: CPUs, memory, durations, array ranges.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cluster/client/job_spec_input.h"
#include "core/job.h"
#include "core/resources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)muster::ParseMilliCpus(text);
  (void)muster::ParseMemoryMiB(text);
  (void)muster::ParseDurationMs(text);
  (void)muster::client::ParseDurationSeconds(text);
  auto range = muster::ParseArrayRange(text);
  if (range.ok() && range->size() < 0) __builtin_trap();
  return 0;
}
