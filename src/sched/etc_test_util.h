// Test helper: loads the Braun et al. ETC instances from shared/data/etc.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "sched/etc_matrix.h"

namespace muster::sched::testing {

// The project root: $MUSTER_SOURCE_DIR when set (CTest sets it), else derived from this header's
// path as the compiler saw it (absolute under CMake), else ".".
inline std::string SourceDir() {
  if (const char* src = std::getenv("MUSTER_SOURCE_DIR"); src && *src) return src;
  const std::string here = __FILE__;
  const std::string tail = "/src/sched/etc_test_util.h";
  if (here.size() > tail.size() &&
      here.compare(here.size() - tail.size(), tail.size(), tail) == 0) {
    return here.substr(0, here.size() - tail.size());
  }
  return ".";
}

// Directory of the ETC instances: <project root>/../shared/data/etc.
inline std::string EtcDataDir() {
  return SourceDir() + "/../shared/data/etc";
}

// The parsed instance, or nullopt when the file is absent.
inline std::optional<EtcMatrix> LoadEtcInstance(const std::string& name) {
  std::ifstream in(EtcDataDir() + "/" + name);
  if (!in) return std::nullopt;
  std::stringstream buf;
  buf << in.rdbuf();
  auto m = ParseEtc(buf.str());
  if (!m.ok()) return std::nullopt;
  return *std::move(m);
}

}  // namespace muster::sched::testing
