// See limit_budget.h.
#include "cluster/coordinator/limit_budget.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace muster::cluster {

namespace {

std::string Cpus(MilliCpu m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(m) / 1000.0);
  return buf;
}

}  // namespace

namespace {

std::vector<std::string> LookUpGroups(const std::string& user) {
  std::vector<std::string> out;
  struct passwd pw {}, *found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return out;
  int n = 64;
  std::vector<gid_t> gids(static_cast<size_t>(n));
  if (getgrouplist(user.c_str(), pw.pw_gid, gids.data(), &n) < 0) {
    gids.resize(static_cast<size_t>(n));
    if (getgrouplist(user.c_str(), pw.pw_gid, gids.data(), &n) < 0) return out;
  }
  gids.resize(static_cast<size_t>(n));
  for (gid_t g : gids) {
    struct group gr {}, *got = nullptr;
    std::vector<char> gbuf(16384);
    if (getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &got) == 0 && got) out.push_back(gr.gr_name);
  }
  return out;
}

}  // namespace

std::vector<std::string> GroupsOf(const std::string& user) {
  struct Entry {
    std::chrono::steady_clock::time_point at;
    std::vector<std::string> groups;
  };
  static std::mutex mu;
  static std::map<std::string, Entry> cache;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu);
    auto it = cache.find(user);
    if (it != cache.end() && now - it->second.at < std::chrono::minutes(1)) return it->second.groups;
  }
  std::vector<std::string> groups = LookUpGroups(user);
  std::lock_guard lock(mu);
  if (cache.size() > 10000) cache.clear();
  cache[user] = {now, groups};
  return groups;
}

LimitBudget LimitBudget::Build(
    const std::map<std::pair<std::string, std::string>, LimitRecord>& limits, const JobTable& jobs,
    GroupsFn groups_of) {
  LimitBudget b;
  if (limits.empty()) return b;
  b.groups_of_ = groups_of;
  for (const auto& [key, lim] : limits) {
    b.left_[key].limit = &lim;
    b.groups_ = b.groups_ || lim.kind == "group";
  }
  for (JobId id : jobs.holding()) {
    const JobRecord& j = jobs.Get(id);
    auto& mine = b.Applies(j.spec->user);
    for (Left* l : mine) {
      l->gpus_used += j.counts.active * j.spec->resources.gpus;
      l->cpus_used += j.counts.active * j.spec->resources.milli_cpus;
      ++l->jobs_used;
    }
  }
  return b;
}

std::vector<LimitBudget::Left*>& LimitBudget::Applies(const std::string& user) {
  auto [it, fresh] = applies_.try_emplace(user);
  if (fresh) {
    if (auto u = left_.find({"user", user}); u != left_.end()) it->second.push_back(&u->second);
    if (groups_)
      for (const std::string& g : groups_of_(user))
        if (auto l = left_.find({"group", g}); l != left_.end()) it->second.push_back(&l->second);
  }
  return it->second;
}

size_t LimitBudget::Allowed(const JobRecord& j, size_t want, std::string* why) {
  if (left_.empty()) return want;
  const ResourceRequest& r = j.spec->resources;
  const bool new_job = j.counts.active == 0;
  size_t allowed = want;
  for (const Left* l : Applies(j.spec->user)) {
    const LimitRecord& lim = *l->limit;
    const std::string who = lim.kind == "user" ? "user limit: " : "group " + lim.name + " limit: ";
    if (lim.max_gpus > 0 && r.gpus > 0) {
      const int free = std::max(0, lim.max_gpus - l->gpus_used);
      if (static_cast<size_t>(free / r.gpus) < allowed) {
        allowed = static_cast<size_t>(free / r.gpus);
        if (allowed == 0)
          *why = who + std::to_string(l->gpus_used) + " of " + std::to_string(lim.max_gpus) +
                 " GPUs in use";
      }
    }
    if (lim.max_milli_cpus > 0 && r.milli_cpus > 0) {
      const MilliCpu free = std::max<MilliCpu>(0, lim.max_milli_cpus - l->cpus_used);
      if (static_cast<size_t>(free / r.milli_cpus) < allowed) {
        allowed = static_cast<size_t>(free / r.milli_cpus);
        if (allowed == 0)
          *why = who + Cpus(l->cpus_used) + " of " + Cpus(lim.max_milli_cpus) + " CPUs in use";
      }
    }
    if (lim.max_jobs > 0 && new_job && l->jobs_used >= lim.max_jobs) {
      allowed = 0;
      *why = who + std::to_string(l->jobs_used) + " of " + std::to_string(lim.max_jobs) +
             " jobs running";
    }
    if (allowed == 0) return 0;
  }
  return allowed;
}

void LimitBudget::Take(const JobRecord& j, size_t n) {
  if (left_.empty() || n == 0) return;
  const ResourceRequest& r = j.spec->resources;
  for (Left* l : Applies(j.spec->user)) {
    l->gpus_used += static_cast<int>(n) * r.gpus;
    l->cpus_used += static_cast<MilliCpu>(n) * r.milli_cpus;
    if (j.counts.active == 0) ++l->jobs_used;
  }
}

}  // namespace muster::cluster
