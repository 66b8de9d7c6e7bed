// The cluster's certificates, made with OpenSSL (libcrypto): an ECDSA P-256 key per party, a
// self-signed cluster CA, and certificates it signs. No cryptography is written here; these are
// thin, checked wrappers around OpenSSL's key, X.509 and PEM calls.
//
// Thread-safety: the functions are independent and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace muster::cluster {

struct KeyAndCert {
  std::string key_pem;   // PKCS#8 private key
  std::string cert_pem;
};

// A new self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign) valid for `days`.
Result<KeyAndCert> MakeCa(const std::string& common_name, int days);

// A new certificate for the same CA key and name, valid for `days` from now: what renewing the
// CA means. Certificates the old one signed verify against it, and it against them.
Result<KeyAndCert> RenewCa(const KeyAndCert& ca, int days);

// A certificate signed by `ca`: CN = common_name, valid for `days`, with subjectAltName entries
// `sans` ("IP:127.0.0.1", "DNS:host") and extendedKeyUsage serverAuth (server) or clientAuth
// (client); for a new key, or for `key_pem` when given (a renewal that keeps the key).
Result<KeyAndCert> IssueCert(const KeyAndCert& ca, const std::string& common_name, int days,
                             const std::vector<std::string>& sans, bool server,
                             const std::string& key_pem = "");

// A new key and a certificate signing request for it (CN = common_name): what a joining node
// sends; the key never leaves the node.
Result<KeyAndCert> MakeCsr(const std::string& common_name);  // cert_pem holds the CSR
// A client certificate for the CSR's key, signed by `ca`, with CN = common_name whatever the
// CSR asked for (the coordinator decides the name), valid for `days`.
Result<std::string> SignCsr(const KeyAndCert& ca, const std::string& csr_pem,
                            const std::string& common_name, int days);

// Lower-case hex of n bytes.
std::string HexEncode(const unsigned char* p, size_t n);
// Hex SHA-256 of `data` (OpenSSL's EVP_Digest).
std::string Sha256Hex(std::string_view data);

// Hex SHA-256 of the certificate's DER encoding (what `openssl x509 -fingerprint -sha256` shows,
// without colons, lower case).
Result<std::string> CertFingerprint(const std::string& cert_pem);

struct CertInfo {
  std::string common_name;
  int64_t not_after_ms = 0;  // Unix milliseconds
  std::vector<std::string> sans;
};
Result<CertInfo> ReadCert(const std::string& cert_pem);

}  // namespace muster::cluster
