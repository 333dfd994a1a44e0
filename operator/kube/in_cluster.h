// In-cluster config: how a pod reaches the API server with its service account.
//
// Inside a pod, KUBERNETES_SERVICE_HOST/PORT name the API server and the service-account volume
// (/var/run/secrets/kubernetes.io/serviceaccount) holds token, ca.crt and namespace. The kubelet
// rotates the token file, so the ClusterAccess returned carries a token_provider that re-reads the
// file when its modification time changes (checked at most once a second) instead of a fixed token.
#pragma once

#include <string>

#include "operator/kube/kubeconfig.h"
#include "runtime/base/status.h"

namespace mixserve::kube {

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// Reads the environment and `sa_dir`; fails with a message naming what is missing (e.g. "not
// running in a cluster: KUBERNETES_SERVICE_HOST is not set").
Result<ClusterAccess> LoadInCluster(const std::string& sa_dir = kServiceAccountDir);

// LoadInCluster() when KUBERNETES_SERVICE_HOST is set and `kubeconfig` is empty, else
// LoadKubeconfig(kubeconfig) — the usual client resolution for the operator binary.
Result<ClusterAccess> LoadClusterAccess(const std::string& kubeconfig, const std::string& context = "");

}  // namespace mixserve::kube
