// A task's GPU indices as the stores keep them: "0,2" (SqliteStore, PostgresStore).
#pragma once

#include <exception>
#include <sstream>
#include <string>
#include <vector>

namespace muster::cluster {

inline std::string JoinGpuList(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

// Appends the indices of `s` to *v; false for anything but a comma-separated list of integers
// (a row not as muster wrote it).
inline bool SplitGpuList(const std::string& s, std::vector<int>* v) {
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    size_t used = 0;
    try {
      v->push_back(std::stoi(part, &used));
    } catch (const std::exception&) {
      return false;
    }
    if (used != part.size()) return false;
  }
  return true;
}

}  // namespace muster::cluster
