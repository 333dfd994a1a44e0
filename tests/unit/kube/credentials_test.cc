// Credentials: kubeconfig `exec` plugins (a small shell-script plugin), in-cluster service-account
// config with token rotation, RFC 3339 times.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "operator/kube/exec_credential.h"
#include "operator/kube/in_cluster.h"
#include "operator/kube/kubeconfig.h"

namespace mixserve::kube {
namespace {

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kube-credentials-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, bool executable = false) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    if (executable) std::filesystem::permissions(p, std::filesystem::perms::owner_all);
    return p.string();
  }

  // A plugin that counts its runs in DIR/runs and prints a token built from its first argument and
  // $PLUGIN_SUFFIX, expiring at $1's second part.
  std::string WritePlugin() {
    return Write("plugin.sh", R"(#!/bin/sh
echo run >> ")" + (dir_ / "runs").string() + R"("
[ -n "$KUBERNETES_EXEC_INFO" ] || exit 3
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s","expirationTimestamp":"%s"}}\n' "$1" "$PLUGIN_SUFFIX" "$2"
)",
                 true);
  }

  std::string Kubeconfig(const std::string& exec_args) {
    return Write("config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team-a}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: )" + exec_args + R"(
      env: [{name: PLUGIN_SUFFIX, value: from-env}]
)");
  }

  int Runs() const {
    std::ifstream in(dir_ / "runs");
    int n = 0;
    std::string line;
    while (std::getline(in, line)) ++n;
    return n;
  }

  std::filesystem::path dir_;
};

TEST_F(CredentialsTest, ExecPluginTokenIsCachedUntilExpiry) {
  WritePlugin();
  auto access = LoadKubeconfig(Kubeconfig(R"([tok, "2999-01-01T00:00:00Z"])"));
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->ns, "team-a");
  ASSERT_TRUE(access->token_provider);
  for (int i = 0; i < 3; ++i) {
    auto token = access->token_provider();
    ASSERT_TRUE(token.ok()) << token.status().message();
    EXPECT_EQ(*token, "tok-from-env");
  }
  EXPECT_EQ(Runs(), 1) << "a token valid until 2999 is fetched once";
}

TEST_F(CredentialsTest, ExpiredExecTokenIsFetchedAgain) {
  WritePlugin();
  auto access = LoadKubeconfig(Kubeconfig(R"([old, "2000-01-01T00:00:00Z"])"));
  ASSERT_TRUE(access.ok()) << access.status().message();
  ASSERT_TRUE(access->token_provider().ok());
  ASSERT_TRUE(access->token_provider().ok());
  EXPECT_EQ(Runs(), 3) << "an expired credential runs the plugin on every use";
}

TEST_F(CredentialsTest, FailingPluginFailsTheKubeconfigWithItsName) {
  Write("plugin.sh", "#!/bin/sh\necho boom >&2\nexit 7\n", true);
  auto access = LoadKubeconfig(Kubeconfig("[]"));
  ASSERT_FALSE(access.ok());
  EXPECT_NE(access.status().message().find("plugin.sh"), std::string::npos) << access.status().message();
  EXPECT_NE(access.status().message().find("exit status 7"), std::string::npos) << access.status().message();
}

TEST_F(CredentialsTest, PluginWithClientCertificate) {
  Write("plugin.sh", R"(#!/bin/sh
printf '{"kind":"ExecCredential","status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}}'
)",
        true);
  auto access = LoadKubeconfig(Kubeconfig("[]"));
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->client_cert_pem, "CERT");
  EXPECT_EQ(access->client_key_pem, "KEY");
  EXPECT_FALSE(access->token_provider) << "no token: no provider";
}

TEST(ExecCredential, ParseRejectsBadOutput) {
  EXPECT_FALSE(ParseExecCredential("not json").ok());
  EXPECT_FALSE(ParseExecCredential(R"({"kind":"Other","status":{"token":"t"}})").ok());
  EXPECT_FALSE(ParseExecCredential(R"({"kind":"ExecCredential","status":{}})").ok());
  EXPECT_FALSE(ParseExecCredential(R"({"kind":"ExecCredential","status":{"clientCertificateData":"C"}})").ok());
  auto ok = ParseExecCredential(R"({"kind":"ExecCredential","status":{"token":"t"}})");
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->expiration.has_value());
}

TEST(Rfc3339, ParsesZonesFractionsAndRoundTrips) {
  auto z = ParseRfc3339("2026-01-02T03:04:05Z");
  ASSERT_TRUE(z.ok()) << z.status().message();
  EXPECT_EQ(FormatRfc3339(*z), "2026-01-02T03:04:05Z");
  auto offset = ParseRfc3339("2026-01-02T05:04:05+02:00");
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(*offset, *z);
  auto micro = ParseRfc3339("2026-01-02T03:04:05.250000Z");
  ASSERT_TRUE(micro.ok());
  EXPECT_EQ(*micro - *z, std::chrono::milliseconds(250));
  EXPECT_EQ(FormatRfc3339Micro(*micro), "2026-01-02T03:04:05.250000Z");
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
  EXPECT_FALSE(ParseRfc3339("2026-01-02T03:04:05").ok()) << "a time without a zone is ambiguous";
}

TEST_F(CredentialsTest, InClusterConfigAndTokenRotation) {
  Write("ca.crt", "CA PEM\n");
  Write("namespace", "mixserve-system\n");
  const std::string token_path = Write("token", "first-token\n");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto access = LoadInCluster(dir_.string());
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server, "https://10.96.0.1:443");
  EXPECT_EQ(access->ca_pem, "CA PEM\n");
  EXPECT_EQ(access->ns, "mixserve-system");
  ASSERT_TRUE(access->token_provider);
  EXPECT_EQ(*access->token_provider(), "first-token");

  // The kubelet swaps the file; the provider picks the new token up (it checks once a second).
  Write("token.new", "second-token\n");
  std::filesystem::rename(dir_ / "token.new", token_path);
  struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  times[1].tv_sec = time(nullptr) + 5;
  times[1].tv_nsec = 0;
  utimensat(AT_FDCWD, token_path.c_str(), times, 0);  // a different mtime even on coarse clocks
  std::string seen;
  for (int i = 0; i < 100 && seen != "second-token"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = *access->token_provider();
  }
  EXPECT_EQ(seen, "second-token");

  unsetenv("KUBERNETES_SERVICE_HOST");
  auto outside = LoadInCluster(dir_.string());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_F(CredentialsTest, InClusterWithoutTokenSaysSo) {
  Write("ca.crt", "CA\n");
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto access = LoadInCluster(dir_.string());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_FALSE(access.ok());
  EXPECT_NE(access.status().message().find("token"), std::string::npos) << access.status().message();
}

}  // namespace
}  // namespace mixserve::kube
