// The limits of every gRPC link, set the same way on both ends: the coordinator's server, the
// CLI's client and the agents' link (a message one end may send, the other end accepts).
//   requests  (CLI or agent -> coordinator): at most kMaxRequestBytes
//   replies   (coordinator -> CLI or agent): at most kMaxReplyBytes (job lists, logs, launches)
// Keepalive: the agent's link pings every 10 s and gives up after 10 s more without an answer,
// so a dead connection (no RST, as in a partition) is noticed from either end; the server
// accepts such pings (no more often than every second) even with no call in flight.
#pragma once

#include <grpcpp/support/channel_arguments.h>

namespace muster::cluster {

inline constexpr int kMaxRequestBytes = 64 << 20;
inline constexpr int kMaxReplyBytes = 256 << 20;
inline constexpr int kKeepaliveMs = 10000;

// Channel arguments of a client end; `keepalive` for long-lived streams (the agent's link).
inline grpc::ChannelArguments LinkChannelArgs(bool keepalive) {
  grpc::ChannelArguments args;
  // Fail fast on an unreachable coordinator instead of backing off for a long time.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxSendMessageSize(kMaxRequestBytes);
  args.SetMaxReceiveMessageSize(kMaxReplyBytes);
  if (keepalive) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  return args;
}

}  // namespace muster::cluster
