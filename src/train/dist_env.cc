// Parsing of torchrun's rank variables (see dist_env.h).
#include "train/dist_env.h"

#include <charconv>
#include <cstdlib>

namespace muster::train {
namespace {

Result<int64_t> ParseInt(const std::string& name, const std::string& value, int64_t lo,
                         int64_t hi) {
  int64_t v = 0;
  const char* end = value.data() + value.size();
  auto [p, ec] = std::from_chars(value.data(), end, v);
  if (ec != std::errc() || p != end || v < lo || v > hi) {
    return Status::InvalidArgument(name + "=" + value + " is not an integer in [" +
                                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

}  // namespace

Result<DistEnv> ParseDistEnv(const EnvLookup& lookup) {
  DistEnv env;
  const auto world = lookup("WORLD_SIZE");
  if (!world) {
    if (lookup("RANK")) return Status::InvalidArgument("RANK is set but WORLD_SIZE is not");
    return env;
  }
  auto w = ParseInt("WORLD_SIZE", *world, 1, 1 << 20);
  if (!w.ok()) return w.status();
  env.world_size = static_cast<int>(*w);
  if (env.world_size == 1 && !lookup("RANK")) return env;
  const auto rank = lookup("RANK");
  if (!rank) return Status::InvalidArgument("WORLD_SIZE is set but RANK is not");
  auto r = ParseInt("RANK", *rank, 0, env.world_size - 1);
  if (!r.ok()) return r.status();
  env.rank = static_cast<int>(*r);
  env.local_world_size = env.world_size;
  if (auto lw = lookup("LOCAL_WORLD_SIZE")) {
    auto v = ParseInt("LOCAL_WORLD_SIZE", *lw, 1, env.world_size);
    if (!v.ok()) return v.status();
    env.local_world_size = static_cast<int>(*v);
  }
  env.local_rank = env.rank % env.local_world_size;
  if (auto lr = lookup("LOCAL_RANK")) {
    auto v = ParseInt("LOCAL_RANK", *lr, 0, env.local_world_size - 1);
    if (!v.ok()) return v.status();
    env.local_rank = static_cast<int>(*v);
  }
  if (auto a = lookup("MASTER_ADDR")) {
    if (a->empty()) return Status::InvalidArgument("MASTER_ADDR is empty");
    env.master_addr = *a;
  }
  if (auto p = lookup("MASTER_PORT")) {
    auto v = ParseInt("MASTER_PORT", *p, 1, 65535);
    if (!v.ok()) return v.status();
    env.master_port = static_cast<uint16_t>(*v);
  }
  return env;
}

Result<DistEnv> DistEnvFromProcess() {
  return ParseDistEnv([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

}  // namespace muster::train
