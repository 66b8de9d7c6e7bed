#include "cluster/common/coordinator_list.h"

#include <algorithm>
#include <cctype>

namespace muster::cluster {

namespace {

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool ValidPort(const std::string& p) {
  if (p.empty() || p.size() > 5) return false;
  for (char c : p)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  const int v = std::stoi(p);
  return v >= 1 && v <= 65535;
}

}  // namespace

Result<std::vector<std::string>> ParseCoordinatorList(const std::string& list) {
  if (list.find(',') == std::string::npos) {
    if (Trim(list).empty())
      return Status::InvalidArgument("no coordinator address: use HOST:PORT");
    return std::vector<std::string>{list};
  }
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = list.find(',', start);
    const std::string entry =
        Trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    const size_t colon = entry.rfind(':');
    const std::string host = colon == std::string::npos ? "" : entry.substr(0, colon);
    const bool bracketed = host.starts_with('[');
    if (entry.empty())
      return Status::InvalidArgument("the coordinator list '" + list +
                                     "' has an empty entry: use HOST:PORT,HOST:PORT");
    if (colon == std::string::npos || host.empty() || !ValidPort(entry.substr(colon + 1)) ||
        (bracketed && !host.ends_with(']')) ||
        (!bracketed && host.find(':') != std::string::npos))
      return Status::InvalidArgument("coordinator address '" + entry +
                                     "' is not HOST:PORT (a port of 1-65535; [ADDRESS]:PORT for "
                                     "IPv6)");
    if (std::find(out.begin(), out.end(), entry) == out.end()) out.push_back(entry);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace muster::cluster
