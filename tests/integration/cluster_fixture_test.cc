// The local control plane fixture, driven from GoogleTest: start it, use it through mixserve's own
// kube client (TLS, client certificates, RBAC), schedule a GPU pod onto a kwok node, stop it.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "operator/kube/kubeconfig.h"
#include "operator/kube/rest_client.h"
#include "tests/support/local_cluster.h"

namespace mixserve {
namespace {

using nlohmann::json;

const char kGpuDeployment[] = R"({
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "gpu-smoke", "namespace": "default"},
  "spec": {
    "replicas": 1,
    "selector": {"matchLabels": {"app": "gpu-smoke"}},
    "template": {
      "metadata": {"labels": {"app": "gpu-smoke"}},
      "spec": {"containers": [{"name": "main", "image": "mixserve:test",
        "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}}]}
    }
  }
})";

std::vector<int> Pids(const std::string& dir) {
  std::vector<int> pids;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/pids")) {
    int pid = 0;
    std::ifstream(e.path()) >> pid;
    if (pid > 0) pids.push_back(pid);
  }
  return pids;
}

TEST(ClusterFixture, StartUseStop) {
  testing::LocalCluster cluster;
  Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started.message();
  std::vector<int> pids = Pids(cluster.dir());
  EXPECT_EQ(pids.size(), 5u) << "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok";

  auto access = kube::LoadKubeconfig(cluster.kubeconfig());
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server.rfind("https://127.0.0.1:", 0), 0u) << access->server;
  kube::RestClient admin(*access);

  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status().message();
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ok");

  // kwok nodes advertise GPUs and are Ready.
  auto nodes = admin.Get("/api/v1/nodes");
  ASSERT_TRUE(nodes.ok()) << nodes.status().message();
  auto node_list = json::parse(nodes->body);
  ASSERT_EQ(node_list["items"].size(), 2u);
  for (const auto& node : node_list["items"]) {
    EXPECT_EQ(node["status"]["allocatable"]["nvidia.com/gpu"], "8");
  }

  // RBAC is enforced: a service account has no rights it was not granted, anonymous gets nothing.
  auto can_i = cluster.Kubectl("auth can-i list pods --as=system:serviceaccount:default:default");
  EXPECT_FALSE(can_i.ok()) << "a plain service account must not list pods";
  kube::ClusterAccess anonymous = *access;
  anonymous.client_cert_pem.clear();
  anonymous.client_key_pem.clear();
  kube::RestClient anon(anonymous);
  auto denied = anon.Get("/api/v1/namespaces/default/pods");
  ASSERT_TRUE(denied.ok()) << denied.status().message();
  EXPECT_TRUE(denied->status == 401 || denied->status == 403) << denied->status;

  // TLS is verified: a client that trusts no CA cannot connect.
  kube::ClusterAccess untrusting = *access;
  untrusting.ca_pem.clear();
  kube::RestClient strict(untrusting);
  EXPECT_FALSE(strict.Get("/readyz").ok());

  // A GPU Deployment is scheduled onto a kwok node and runs.
  auto created = admin.Request("POST", "/apis/apps/v1/namespaces/default/deployments", kGpuDeployment);
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_EQ(created->status, 201) << created->body;
  std::string phase, node_name;
  for (int i = 0; i < 120 && phase != "Running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto pods = admin.Get("/api/v1/namespaces/default/pods?labelSelector=app%3Dgpu-smoke");
    ASSERT_TRUE(pods.ok()) << pods.status().message();
    auto items = json::parse(pods->body)["items"];
    if (items.empty()) continue;
    phase = items[0]["status"].value("phase", "");
    node_name = items[0]["spec"].value("nodeName", "");
  }
  EXPECT_EQ(phase, "Running");
  EXPECT_EQ(node_name.rfind("kwok-gpu-", 0), 0u) << node_name;

  std::string dir = cluster.dir();
  Status stopped = cluster.Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.message();
  EXPECT_FALSE(std::filesystem::exists(dir));
  for (int pid : pids) EXPECT_NE(kill(pid, 0), 0) << "process " << pid << " still running";
}

}  // namespace
}  // namespace mixserve
