// How the REST gateway (cluster/gateway/rest_api.h) tells the coordinator's gRPC service on whose
// behalf it calls.
//
// The gateway runs inside the coordinator process and calls the coordinator's own port. A call
// it makes for an HTTP request carries:
//   kGatewayKey        the coordinator's gateway secret: 256 random bits made at start, never
//                      written anywhere, so only this process can send it;
//   kClientAddress     where the HTTP request came from ("203.0.113.7:51234"), which the
//                      service records as the call's peer (audit rows, logs);
//   and either the request's bearer token (authorization, as any client sends it) or, for a
//   request that came with a client certificate verified against the cluster CA in the HTTPS
//   handshake, that certificate's CN and SHA-256 (kCertName, kCertSha256), which the service
//   checks as it checks a certificate presented on gRPC (Authenticator::FromCertificate).
// A call that names a certificate without the right secret is refused; the service never takes
// kCertName or kClientAddress from anyone else.
#pragma once

namespace muster::cluster::gateway_delegation {

inline constexpr const char* kGatewayKey = "x-muster-gateway-key";
inline constexpr const char* kClientAddress = "x-muster-client-address";
inline constexpr const char* kCertName = "x-muster-client-cert-cn";
inline constexpr const char* kCertSha256 = "x-muster-client-cert-sha256";

}  // namespace muster::cluster::gateway_delegation
