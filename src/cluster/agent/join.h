// Joining a cluster with a one-time token (`muster admin join-token`), as kubeadm's discovery
// token does: the token carries the cluster CA's SHA-256, so the node checks the coordinator on
// first contact without being given any file.
//   1. The node opens a TLS connection to the coordinator without trusting anything, takes the
//      certificate chain the coordinator presents, and keeps the CA certificate whose SHA-256 is
//      the token's; none: it stops there.
//   2. It makes its own key and a CSR, and calls Join over TLS checked against that CA, with the
//      token. The coordinator signs a certificate whose CN is the node's name.
//   3. It keeps <work dir>/tls/{ca.crt, node.key (0600), node.crt}, and from then on presents the
//      certificate on its link; no token is needed again.
//   4. Before the certificate expires (RenewIfDue, checked at every connection), it sends a new
//      CSR over its current certificate and keeps the new one (and the current CA certificate);
//      the old one stops counting.
#pragma once

#include <string>

#include "cluster/common/tls.h"
#include "core/status.h"

namespace muster::agent {

struct JoinToken {
  std::string secret;          // "mstj_<64 hex>"
  std::string ca_fingerprint;  // 64 hex
};
Result<JoinToken> ParseJoinToken(const std::string& text);

// The CA certificate (PEM) in the chain the TLS server at HOST:PORT presents whose SHA-256 is
// `fingerprint`; Unavailable when the server cannot be reached, PermissionDenied when no
// certificate matches (someone else answered).
Result<std::string> FetchPinnedCa(const std::string& address, const std::string& fingerprint);

// Steps 1-3 above; the transport to use afterwards.
Result<cluster::ClientTransport> JoinCluster(const std::string& address, const std::string& node,
                                             const std::string& token, const std::string& work_dir);

// When the node certificate of `t`, or the CA certificate it trusts, expires within
// `renew_before_ms`: asks the coordinator for a new one over `t` (presenting the current
// certificate), keeps it and the coordinator's current CA certificate in work_dir/tls, and
// returns the new transport; `t` unchanged when no renewal is due.
Result<cluster::ClientTransport> RenewIfDue(const std::string& address,
                                            const cluster::ClientTransport& t,
                                            const std::string& work_dir, int64_t renew_before_ms);

// The transport from credentials an earlier join left in work_dir; NotFound if there are none.
Result<cluster::ClientTransport> LoadNodeCredentials(const std::string& work_dir);

}  // namespace muster::agent
