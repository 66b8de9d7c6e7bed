// See discovery.h.
#include "cluster/agent/discovery.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cluster/agent/gpu_driver.h"

namespace muster::agent {

namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  try {
    size_t pos = 0;
    long long v = std::stoll(s, &pos);
    if (pos != s.size()) return false;
    *out = v;
    return true;
  } catch (...) {
    return false;
  }
}

// Cgroup path of this process for a v1 controller ("memory", "cpu") or v2 (controller "").
std::optional<std::string> CgroupPath(const DiscoveryOptions& o, const std::string& controller) {
  auto text = ReadFile(o.proc_root + "/self/cgroup");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty()) {
      if (ctrls.empty()) return path;
      continue;
    }
    std::istringstream cs(ctrls);
    std::string c;
    while (std::getline(cs, c, ','))
      if (c == controller) return path;
  }
  return std::nullopt;
}

// Reads `file` in dir and each ancestor of `path` under `base`, returning every value parse()
// accepts; the effective limit is the smallest of them.
template <typename T, typename Parse>
std::optional<T> MinOverAncestors(const std::string& base, std::string path, const Parse& parse) {
  std::optional<T> best;
  while (true) {
    std::string dir = base + (path == "/" ? "" : path);
    if (auto v = parse(dir)) best = best ? std::min(*best, *v) : *v;
    if (path.empty() || path == "/") break;
    size_t slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  return best;
}

std::optional<MilliCpu> CgroupCpuLimit(const DiscoveryOptions& o) {
  if (auto p = CgroupPath(o, "")) {
    auto v = MinOverAncestors<MilliCpu>(o.cgroup_root, *p, [](const std::string& dir) {
      auto t = ReadFile(dir + "/cpu.max");
      return t ? ParseCgroupCpuMax(*t) : std::nullopt;
    });
    if (v) return v;
  }
  if (auto p = CgroupPath(o, "cpu")) {
    for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
      auto v = MinOverAncestors<MilliCpu>(o.cgroup_root + mount, *p, [](const std::string& dir) {
        auto q = ReadFile(dir + "/cpu.cfs_quota_us");
        auto per = ReadFile(dir + "/cpu.cfs_period_us");
        return q && per ? CgroupV1CpuQuota(*q, *per) : std::nullopt;
      });
      if (v) return v;
    }
  }
  return std::nullopt;
}

std::optional<MiB> CgroupMemoryLimit(const DiscoveryOptions& o) {
  if (auto p = CgroupPath(o, "")) {
    auto v = MinOverAncestors<MiB>(o.cgroup_root, *p, [](const std::string& dir) {
      auto t = ReadFile(dir + "/memory.max");
      return t ? ParseCgroupMemoryLimit(*t) : std::nullopt;
    });
    if (v) return v;
  }
  if (auto p = CgroupPath(o, "memory")) {
    return MinOverAncestors<MiB>(o.cgroup_root + "/memory", *p, [](const std::string& dir) {
      auto t = ReadFile(dir + "/memory.limit_in_bytes");
      return t ? ParseCgroupMemoryLimit(*t) : std::nullopt;
    });
  }
  return std::nullopt;
}

}  // namespace

std::optional<MiB> ParseMeminfoTotal(const std::string& meminfo) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream ls(line.substr(9));
    int64_t kb = 0;
    std::string unit;
    if (!(ls >> kb) || kb < 0) return std::nullopt;
    ls >> unit;
    if (!unit.empty() && unit != "kB") return std::nullopt;
    return kb / 1024;
  }
  return std::nullopt;
}

std::optional<MilliCpu> ParseCgroupCpuMax(const std::string& text) {
  std::istringstream in(text);
  std::string quota, period;
  if (!(in >> quota)) return std::nullopt;
  if (!(in >> period)) period = "100000";
  if (quota == "max") return std::nullopt;
  return CgroupV1CpuQuota(quota, period);
}

std::optional<MilliCpu> CgroupV1CpuQuota(const std::string& quota, const std::string& period) {
  int64_t q = 0, p = 0;
  if (!ParseInt64(Trim(quota), &q) || !ParseInt64(Trim(period), &p)) return std::nullopt;
  if (q <= 0 || p <= 0) return std::nullopt;
  return std::max<MilliCpu>(1, q * 1000 / p);
}

std::optional<MiB> ParseCgroupMemoryLimit(const std::string& text) {
  std::string t = Trim(text);
  if (t == "max") return std::nullopt;
  int64_t bytes = 0;
  if (!ParseInt64(t, &bytes) || bytes <= 0) return std::nullopt;
  if (bytes >= (int64_t{1} << 60)) return std::nullopt;  // v1 reports "no limit" as ~2^63
  return bytes / (1024 * 1024);
}

Result<std::vector<int>> ParseGpuIds(const std::string& text) {
  std::vector<int> ids;
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    int64_t v = 0;
    if (!ParseInt64(Trim(tok), &v) || v < 0 || v > 1023)
      return Status::InvalidArgument("--gpu-ids: expected a list like 0,1,3, got '" + text + "'");
    if (std::find(ids.begin(), ids.end(), v) == ids.end()) ids.push_back(static_cast<int>(v));
  }
  if (ids.empty()) return Status::InvalidArgument("--gpu-ids: empty list");
  return ids;
}

MilliCpu DiscoverMilliCpus(const DiscoveryOptions& o) {
  if (o.milli_cpus > 0) return o.milli_cpus;
  long n = 0;
  if (o.use_affinity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  }
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  MilliCpu m = static_cast<MilliCpu>(n) * 1000;
  if (auto limit = CgroupCpuLimit(o)) m = std::min(m, *limit);
  return m;
}

MiB DiscoverMemoryMiB(const DiscoveryOptions& o) {
  if (o.memory_mib > 0) return o.memory_mib;
  MiB m = 0;
  if (auto t = ReadFile(o.proc_root + "/meminfo"))
    if (auto v = ParseMeminfoTotal(*t)) m = *v;
  if (auto limit = CgroupMemoryLimit(o)) m = m > 0 ? std::min(m, *limit) : *limit;
  return m;
}

Result<std::vector<GpuDevice>> DiscoverGpus(const DiscoveryOptions& o, GpuDriver* driver) {
  std::vector<GpuDevice> gpus;
  if (o.virtual_gpus >= 0) {
    for (int i = 0; i < o.virtual_gpus; ++i)
      gpus.push_back({.index = i,
                      .model = "virtual",
                      .memory_mib = o.virtual_gpu_memory_mib,
                      .is_virtual = true});
    return gpus;
  }
  if (driver) gpus = driver->Devices();
  if (o.gpu_ids.empty()) return gpus;
  std::vector<GpuDevice> kept;
  for (int id : o.gpu_ids) {
    auto it =
        std::find_if(gpus.begin(), gpus.end(), [&](const GpuDevice& g) { return g.index == id; });
    if (it == gpus.end())
      return Status::InvalidArgument("--gpu-ids: GPU " + std::to_string(id) + " does not exist (" +
                                     std::to_string(gpus.size()) + " GPUs found)");
    kept.push_back(*it);
  }
  return kept;
}

Result<DiscoveredNode> DiscoverNode(const DiscoveryOptions& o, GpuDriver* driver) {
  auto gpus = DiscoverGpus(o, driver);
  if (!gpus.ok()) return gpus.status();
  DiscoveredNode n;
  n.spec.name = o.name;
  n.spec.milli_cpus = DiscoverMilliCpus(o);
  n.spec.memory_mib = DiscoverMemoryMiB(o);
  n.spec.gpus = std::move(*gpus);
  n.spec.speed = o.speed;
  n.address = o.address;
  return n;
}

}  // namespace muster::agent
