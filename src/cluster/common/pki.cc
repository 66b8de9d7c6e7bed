// See pki.h.
#include "cluster/common/pki.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <stdexcept>

namespace muster::cluster {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

Status OpenSslError(const std::string& what) {
  char buf[256] = {};
  unsigned long e = ERR_get_error();
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Status::Internal(what + ": " + (e ? buf : "OpenSSL error"));
}

std::string BioString(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Result<Key> NewKey() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return OpenSslError("cannot generate a P-256 key");
  return k;
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return OpenSslError("cannot encode a key");
  return BioString(b.get());
}

Result<std::string> CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return OpenSslError("cannot encode a cert");
  return BioString(b.get());
}

Result<Key> ParseKey(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) return OpenSslError("cannot read a private key");
  return k;
}

Result<Cert> ParseCert(const std::string& pem) {
  Bio b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) return OpenSslError("cannot read a certificate");
  return c;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return OpenSslError("cannot make the extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : OpenSslError("cannot add the extension " + value);
}

// A certificate for `key` with subject CN=cn, issued by `issuer_name`, valid now for `days`.
Result<Cert> NewCert(EVP_PKEY* key, const std::string& cn, int days) {
  Cert c(X509_new());
  if (!c || X509_set_version(c.get(), 2) != 1) return OpenSslError("cannot make a certificate");
  // A random 127-bit serial.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return OpenSslError("no randomness for a serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* sn = bn ? BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get())) : nullptr;
  BN_free(bn);
  if (!sn) return OpenSslError("cannot set a serial");
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -300);  // a little clock skew
  X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(days) * 86400);
  if (X509_set_pubkey(c.get(), key) != 1) return OpenSslError("cannot set the public key");
  X509_NAME* name = X509_get_subject_name(c.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1)
    return OpenSslError("cannot set the common name");
  return c;
}

}  // namespace

namespace {

// A self-signed CA certificate for `key`.
Result<KeyAndCert> SelfSignedCa(EVP_PKEY* key, const std::string& common_name, int days) {
  auto cert = NewCert(key, common_name, days);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(c)) != 1) return OpenSslError("issuer");
  for (auto [nid, v] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                        std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                        std::pair{NID_subject_key_identifier, "hash"}})
    if (Status s = AddExt(c, c, nid, v); !s.ok()) return s;
  if (X509_sign(c, key, EVP_sha256()) == 0) return OpenSslError("cannot sign the CA");
  auto kp = KeyPem(key);
  if (!kp.ok()) return kp.status();
  auto cp = CertPem(c);
  if (!cp.ok()) return cp.status();
  return KeyAndCert{*kp, *cp};
}

}  // namespace

Result<KeyAndCert> MakeCa(const std::string& common_name, int days) {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  return SelfSignedCa(key->get(), common_name, days);
}

Result<KeyAndCert> RenewCa(const KeyAndCert& ca, int days) {
  auto key = ParseKey(ca.key_pem);
  if (!key.ok()) return key.status();
  auto info = ReadCert(ca.cert_pem);
  if (!info.ok()) return info.status();
  return SelfSignedCa(key->get(), info->common_name, days);
}

Result<KeyAndCert> IssueCert(const KeyAndCert& ca, const std::string& common_name, int days,
                             const std::vector<std::string>& sans, bool server,
                             const std::string& key_pem) {
  auto ca_key = ParseKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status();
  auto ca_cert = ParseCert(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status();
  auto key = key_pem.empty() ? NewKey() : ParseKey(key_pem);
  if (!key.ok()) return key.status();
  auto cert = NewCert(key->get(), common_name, days);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(ca_cert->get())) != 1)
    return OpenSslError("issuer");
  std::string san;
  for (const auto& s : sans) san += (san.empty() ? "" : ",") + s;
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, server ? "serverAuth" : "clientAuth"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!san.empty()) exts.push_back({NID_subject_alt_name, san});
  for (const auto& [nid, v] : exts)
    if (Status s = AddExt(c, ca_cert->get(), nid, v); !s.ok()) return s;
  if (X509_sign(c, ca_key->get(), EVP_sha256()) == 0)
    return OpenSslError("cannot sign the certificate");
  auto kp = KeyPem(key->get());
  if (!kp.ok()) return kp.status();
  auto cp = CertPem(c);
  if (!cp.ok()) return cp.status();
  return KeyAndCert{*kp, *cp};
}

Result<KeyAndCert> MakeCsr(const std::string& common_name) {
  auto key = NewKey();
  if (!key.ok()) return key.status();
  std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>> req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key->get()) != 1)
    return OpenSslError("cannot make a CSR");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_REQ_sign(req.get(), key->get(), EVP_sha256()) == 0)
    return OpenSslError("cannot sign the CSR");
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509_REQ(b.get(), req.get()) != 1) return OpenSslError("cannot encode");
  auto kp = KeyPem(key->get());
  if (!kp.ok()) return kp.status();
  return KeyAndCert{*kp, BioString(b.get())};
}

Result<std::string> SignCsr(const KeyAndCert& ca, const std::string& csr_pem,
                            const std::string& common_name, int days) {
  if (csr_pem.size() > 16384) return Status::InvalidArgument("the CSR is too large");
  Bio in(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>> req(
      PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  if (!req) return Status::InvalidArgument("the CSR cannot be read");
  Key pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1)
    return Status::InvalidArgument("the CSR is not signed by its own key");
  auto ca_key = ParseKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status();
  auto ca_cert = ParseCert(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status();
  auto cert = NewCert(pub.get(), common_name, days);
  if (!cert.ok()) return cert.status();
  X509* c = cert->get();
  if (X509_set_issuer_name(c, X509_get_subject_name(ca_cert->get())) != 1)
    return OpenSslError("issuer");
  for (auto [nid, v] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                        std::pair{NID_key_usage, "critical,digitalSignature"},
                        std::pair{NID_ext_key_usage, "clientAuth"},
                        std::pair{NID_authority_key_identifier, "keyid:always"}})
    if (Status s = AddExt(c, ca_cert->get(), nid, v); !s.ok()) return s;
  if (X509_sign(c, ca_key->get(), EVP_sha256()) == 0) return OpenSslError("cannot sign");
  return CertPem(c);
}

std::string HexEncode(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL SHA-256 failed");
  return HexEncode(md, len);
}

Result<std::string> CertFingerprint(const std::string& cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert->get(), &der);
  if (n <= 0) return OpenSslError("cannot encode a certificate");
  std::string fp = Sha256Hex(std::string_view(reinterpret_cast<const char*>(der), n));
  OPENSSL_free(der);
  return fp;
}

Result<CertInfo> ReadCert(const std::string& cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert.ok()) return cert.status();
  CertInfo info;
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert->get()), NID_commonName, cn, sizeof cn);
  info.common_name = cn;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert->get()), &tm) == 1)
    info.not_after_ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert->get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      const auto* s = g->d.dNSName;
      info.sans.push_back("DNS:" + std::string(reinterpret_cast<const char*>(s->data),
                                               static_cast<size_t>(s->length)));
    } else if (g->type == GEN_IPADD && g->d.iPAddress->length == 4) {
      const unsigned char* a = g->d.iPAddress->data;
      info.sans.push_back("IP:" + std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                          std::to_string(a[2]) + "." + std::to_string(a[3]));
    }
  }
  GENERAL_NAMES_free(names);
  return info;
}

}  // namespace muster::cluster
