#include "cluster/common/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <chrono>

#include "cluster/common/wall_time.h"

namespace muster::cluster {
namespace {


TEST(Pki, ACaIssuesCertificatesWithTheirNames) {
  auto ca = MakeCa("test CA", 365);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_NE(ca->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto ca_info = ReadCert(ca->cert_pem);
  ASSERT_TRUE(ca_info.ok());
  EXPECT_EQ(ca_info->common_name, "test CA");
  EXPECT_NEAR(static_cast<double>(ca_info->not_after_ms - WallMs()), 365.0 * 86400e3, 3600e3);

  auto server = IssueCert(*ca, "coord", 90, {"IP:127.0.0.1", "DNS:localhost", "DNS:coord"}, true);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto info = ReadCert(server->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "coord");
  EXPECT_EQ(info->sans, (std::vector<std::string>{"IP:127.0.0.1", "DNS:localhost", "DNS:coord"}));
  EXPECT_NEAR(static_cast<double>(info->not_after_ms - WallMs()), 90.0 * 86400e3, 3600e3);
  EXPECT_NE(server->key_pem, ca->key_pem);
}

// True if `leaf_pem` chains to `root_pem` (OpenSSL's own verification).
bool Verifies(const std::string& leaf_pem, const std::string& root_pem) {
  auto read = [](const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return x;
  };
  X509* leaf = read(leaf_pem);
  X509* root = read(root_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  bool ok = leaf && root && X509_STORE_add_cert(store, root) == 1 &&
            X509_STORE_CTX_init(ctx, store, leaf, nullptr) == 1 && X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(root);
  X509_free(leaf);
  return ok;
}

TEST(Pki, RenewalsKeepKeysAndTrust) {
  auto ca = MakeCa("test CA", 10);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto leaf = IssueCert(*ca, "coord", 5, {"IP:127.0.0.1"}, true);
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(Verifies(leaf->cert_pem, ca->cert_pem));
  // A renewed CA: the same key and name, a later expiry; the old CA's certificates still verify.
  auto renewed = RenewCa(*ca, 365);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->key_pem, ca->key_pem);
  EXPECT_NE(*CertFingerprint(renewed->cert_pem), *CertFingerprint(ca->cert_pem));
  EXPECT_EQ(ReadCert(renewed->cert_pem)->common_name, "test CA");
  EXPECT_GT(ReadCert(renewed->cert_pem)->not_after_ms, ReadCert(ca->cert_pem)->not_after_ms);
  EXPECT_TRUE(Verifies(leaf->cert_pem, renewed->cert_pem));
  // A renewed leaf for the same key, signed by the renewed CA, verifies against the old CA too.
  auto again = IssueCert(*renewed, "coord", 90, {"IP:127.0.0.1"}, true, leaf->key_pem);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->key_pem, leaf->key_pem);
  EXPECT_TRUE(Verifies(again->cert_pem, ca->cert_pem));
  EXPECT_TRUE(Verifies(again->cert_pem, renewed->cert_pem));
  // A different CA does not.
  auto other = MakeCa("test CA", 10);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(Verifies(again->cert_pem, other->cert_pem));
}

TEST(Pki, FingerprintsAreStableAndDistinct) {
  auto a = MakeCa("a", 1);
  auto b = MakeCa("a", 1);
  ASSERT_TRUE(a.ok() && b.ok());
  auto fa = CertFingerprint(a->cert_pem);
  ASSERT_TRUE(fa.ok());
  EXPECT_EQ(fa->size(), 64u);
  EXPECT_EQ(*fa, *CertFingerprint(a->cert_pem));
  EXPECT_NE(*fa, *CertFingerprint(b->cert_pem));  // new key, new serial
}

TEST(Pki, GarbageIsAnErrorNotACrash) {
  EXPECT_FALSE(ReadCert("not a certificate").ok());
  EXPECT_FALSE(CertFingerprint("").ok());
  KeyAndCert bogus{"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", "x"};
  EXPECT_FALSE(IssueCert(bogus, "n", 1, {}, false).ok());
}

TEST(Pki, TheCaDecidesTheNameOfASignedCsr) {
  auto ca = MakeCa("ca", 1);
  auto csr = MakeCsr("i-want-to-be-root");
  ASSERT_TRUE(ca.ok() && csr.ok());
  EXPECT_NE(csr->cert_pem.find("BEGIN CERTIFICATE REQUEST"), std::string::npos);
  auto cert = SignCsr(*ca, csr->cert_pem, "node7", 90);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(ReadCert(*cert)->common_name, "node7");
  EXPECT_EQ(SignCsr(*ca, "garbage", "node7", 90).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SignCsr(*ca, std::string(20000, 'x'), "n", 1).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muster::cluster
