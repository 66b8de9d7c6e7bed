// The YAML job file parser and the spec builder behind `muster submit`: any text gives a spec
// that validates, or an error; never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cluster/client/job_spec_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto in = muster::client::ParseJobSpecYaml(text);
  if (!in.ok()) return 0;
  auto spec = muster::client::BuildJobSpec(*in, {.user = "fuzz", .workdir = "/tmp"});
  if (spec.ok() && !spec->Validate().ok()) __builtin_trap();  // built means valid
  return 0;
}
