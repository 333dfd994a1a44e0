// TestCluster: the hack/cluster.sh control plane for the kube client's integration tests.
//
// Starts a fresh cluster per test process (LocalCluster), or, when MIXSERVE_TEST_CLUSTER_DIR names
// the --dir of one already up, uses that one (faster while iterating). Each test works in its own
// namespace, so tests can share a cluster. RestartApiserver() runs `hack/cluster.sh
// restart-apiserver`.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "operator/kube/client.h"
#include "operator/kube/kubeconfig.h"
#include "tests/support/local_cluster.h"

namespace mixserve::kube {

class TestCluster {
 public:
  Status Start() {
    const char* existing = std::getenv("MIXSERVE_TEST_CLUSTER_DIR");
    if (existing && *existing) {
      dir_ = existing;
    } else {
      Status s = local_.Start();
      if (!s.ok()) return s;
      dir_ = local_.dir();
    }
    auto access = LoadKubeconfig(dir_ + "/kubeconfig");
    if (!access.ok()) return access.status();
    access_ = *access;
    return Status::Ok();
  }

  std::unique_ptr<Client> NewClient() const { return std::make_unique<Client>(access_); }
  const std::string& dir() const { return dir_; }

  // A fresh namespace for one test, e.g. "kt-watch-1234".
  std::string NewNamespace(const std::string& stem) {
    const std::string ns = "kt-" + stem + "-" + std::to_string(getpid()) + "-" + std::to_string(namespaces_++);
    Client client(access_);
    auto created = client.Create(kNamespaceKind, "", {{"apiVersion", "v1"}, {"kind", "Namespace"},
                                                      {"metadata", {{"name", ns}}}});
    EXPECT_TRUE(created.ok()) << created.status().message();
    return ns;
  }

  // Compacts etcd's history up to its current revision (what kube-apiserver does every 5 minutes),
  // so a watch from an older resourceVersion that reaches etcd is answered 410 Gone. Watches of
  // Events go to etcd (kube-apiserver keeps no watch cache window for them back to "1").
  Status CompactEtcd() const {
    int rc = 0;
    const std::string base = "curl -sf -X POST http://127.0.0.1:$(cat " + dir_ + "/etcd.port)/v3/kv/";
    std::string range = testing::RunCommand(base + "range -d '{\"key\":\"AA==\"}'", &rc);
    if (rc != 0) return Status::Unavailable("etcd range failed: " + range);
    auto header = nlohmann::json::parse(range, nullptr, false);
    if (header.is_discarded() || !header.contains("header")) return Status::Internal("etcd range: " + range);
    const std::string revision = header["header"].value("revision", "");
    const nlohmann::json request = {{"revision", revision}, {"physical", true}};
    std::string out = testing::RunCommand(base + "compaction -d '" + request.dump() + "'", &rc);
    if (rc != 0) return Status::Unavailable("etcd compaction failed: " + out);
    return Status::Ok();
  }

  Status RestartApiserver() const {
    int rc = 0;
    std::string out = testing::RunCommand(
        testing::RepoRoot() + "/hack/cluster.sh restart-apiserver --dir " + dir_ + " 2>&1", &rc);
    if (rc != 0) return Status::Unavailable("restart-apiserver failed: " + out);
    return Status::Ok();
  }

 private:
  testing::LocalCluster local_;
  std::string dir_;
  ClusterAccess access_;
  int namespaces_ = 0;
};

// A test suite sharing one TestCluster: started before the suite's first test, stopped after its last.
class ClusterSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster;
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.message();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static inline TestCluster* cluster_ = nullptr;
};

// A ClusterSuite whose every test gets a fresh Client.
class ClusterClientSuite : public ClusterSuite {
 protected:
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    client_ = cluster_->NewClient();
  }
  std::unique_ptr<Client> client_;
};

// Waits (polling every 50 ms) until `done` holds or `limit` passes; returns done().
inline bool Eventually(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// A minimal core/v1 Event carrying `message`.
inline nlohmann::json Event(const std::string& ns, const std::string& name, const std::string& message) {
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"involvedObject", {{"kind", "ConfigMap"}, {"name", "subject"}, {"namespace", ns}}},
          {"reason", "Test"},
          {"message", message},
          {"type", "Normal"}};
}

inline nlohmann::json ConfigMap(const std::string& ns, const std::string& name, const nlohmann::json& data) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"suite", "kube"}}}}},
          {"data", data}};
}

}  // namespace mixserve::kube
