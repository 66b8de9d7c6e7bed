#include "cluster/common/pki.h"

#include <gtest/gtest.h>

#include <chrono>

namespace muster::cluster {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Pki, ACaIssuesCertificatesWithTheirNames) {
  auto ca = MakeCa("test CA", 365);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_NE(ca->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto ca_info = ReadCert(ca->cert_pem);
  ASSERT_TRUE(ca_info.ok());
  EXPECT_EQ(ca_info->common_name, "test CA");
  EXPECT_NEAR(static_cast<double>(ca_info->not_after_ms - NowMs()), 365.0 * 86400e3, 3600e3);

  auto server = IssueCert(*ca, "coord", 90, {"IP:127.0.0.1", "DNS:localhost", "DNS:coord"}, true);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto info = ReadCert(server->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "coord");
  EXPECT_EQ(info->sans, (std::vector<std::string>{"IP:127.0.0.1", "DNS:localhost", "DNS:coord"}));
  EXPECT_NEAR(static_cast<double>(info->not_after_ms - NowMs()), 90.0 * 86400e3, 3600e3);
  EXPECT_NE(server->key_pem, ca->key_pem);
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
