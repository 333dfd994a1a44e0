#include "operator/kube/kubeconfig.h"

#include <gtest/gtest.h>

#include <cpprest/asyncrt_utils.h>

#include <filesystem>
#include <fstream>

namespace mixserve::kube {
namespace {

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kubeconfig-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string B64(const std::string& s) {
    return utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end()));
  }

  std::filesystem::path dir_;
};

TEST_F(KubeconfigTest, InlineDataAndCurrentContext) {
  auto path = Write("config", R"(apiVersion: v1
kind: Config
current-context: b
clusters:
- name: ca
  cluster: {server: "https://10.0.0.1:6443"}
- name: cb
  cluster:
    server: https://127.0.0.1:1234
    certificate-authority-data: )" + B64("CA PEM") + R"(
users:
- name: ub
  user:
    client-certificate-data: )" + B64("CERT PEM") + R"(
    client-key-data: )" + B64("KEY PEM") + R"(
contexts:
- name: a
  context: {cluster: ca, user: ub}
- name: b
  context: {cluster: cb, user: ub}
)");
  auto access = LoadKubeconfig(path);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server, "https://127.0.0.1:1234");
  EXPECT_EQ(access->ca_pem, "CA PEM");
  EXPECT_EQ(access->client_cert_pem, "CERT PEM");
  EXPECT_EQ(access->client_key_pem, "KEY PEM");
  EXPECT_TRUE(access->bearer_token.empty());

  auto other = LoadKubeconfig(path, "a");
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ(other->server, "https://10.0.0.1:6443");
  EXPECT_TRUE(other->ca_pem.empty());
}

TEST_F(KubeconfigTest, RelativeFilesAndToken) {
  Write("ca.crt", "FILE CA");
  auto path = Write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", certificate-authority: ca.crt}}]
users: [{name: u, user: {token: secret-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto access = LoadKubeconfig(path);
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->ca_pem, "FILE CA");
  EXPECT_EQ(access->bearer_token, "secret-token");
}

TEST_F(KubeconfigTest, ErrorsNameTheProblem) {
  auto missing = LoadKubeconfig((dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);

  auto path = Write("config", "current-context: ghost\ncontexts: []\n");
  auto ghost = LoadKubeconfig(path);
  ASSERT_FALSE(ghost.ok());
  EXPECT_NE(ghost.status().message().find("context 'ghost' not found"), std::string::npos);

  auto path2 = Write("config2", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", certificate-authority: missing.crt}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  auto bad_ca = LoadKubeconfig(path2);
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.status().message().find("missing.crt"), std::string::npos);
}

}  // namespace
}  // namespace mixserve::kube
