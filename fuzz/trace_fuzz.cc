// The simulator's trace readers: the Philly GPU-cluster format and muster's own CSV. The first
// byte picks the format; the rest is the file.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "sim/io/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format =
      data[0] % 2 ? muster::sim::io::TraceFormat::kCsv : muster::sim::io::TraceFormat::kPhilly;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  (void)muster::sim::io::ParseTrace(in, format);
  return 0;
}
