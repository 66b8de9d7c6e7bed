// Test helper: loads the Braun et al. ETC instances from shared/data/etc.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "sched/etc_matrix.h"

namespace muster::sched::testing {

// Directory of the ETC instances, from $MUSTER_SOURCE_DIR/../shared/data/etc (set by CTest), or
// the checkout-relative default when the variable is unset.
inline std::string EtcDataDir() {
  const char* src = std::getenv("MUSTER_SOURCE_DIR");
  return std::string(src ? src : ".") + "/../shared/data/etc";
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
