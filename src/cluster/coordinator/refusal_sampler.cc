#include "cluster/coordinator/refusal_sampler.h"

namespace muster::cluster {

std::string_view RefusalSampler::HostOf(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  const size_t scheme = peer.find(':');
  // "unix:/path" and bare names have no port to strip.
  if (colon == std::string_view::npos || colon == scheme) return peer;
  return peer.substr(0, colon);
}

bool RefusalSampler::Admit(std::string_view peer, TimeMs now_ms, int64_t* left_out) {
  const std::string host(HostOf(peer));
  std::lock_guard lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    if (hosts_.size() >= max_hosts_) {
      // Forget the hosts that are quiet; if every one is busy, forget them all (their counts
      // are lost, their next refusals are written again).
      for (auto h = hosts_.begin(); h != hosts_.end();)
        h = now_ms - h->second.last_ms >= interval_ms_ ? hosts_.erase(h) : std::next(h);
      if (hosts_.size() >= max_hosts_) hosts_.clear();
    }
    hosts_.emplace(host, Host{now_ms, 0});
    *left_out = 0;
    return true;
  }
  Host& h = it->second;
  if (now_ms - h.last_ms < interval_ms_) {
    ++h.left_out;
    return false;
  }
  *left_out = h.left_out;
  h = {now_ms, 0};
  return true;
}

}  // namespace muster::cluster
