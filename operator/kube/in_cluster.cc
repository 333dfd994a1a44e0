#include "operator/kube/in_cluster.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

namespace mixserve::kube {
namespace {

Result<std::string> ReadTrimmed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// The service-account token, re-read when the kubelet rotates the file (its mtime changes).
class RotatingToken {
 public:
  explicit RotatingToken(std::string path) : path_(std::move(path)) {}

  Result<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!token_.empty() && now - checked_ < std::chrono::seconds(1)) return token_;
    checked_ = now;
    struct stat st {};
    if (stat(path_.c_str(), &st) != 0) {
      if (!token_.empty()) return token_;  // mid-rotation: keep the last good token
      return Status::NotFound("service-account token " + path_ + " is missing");
    }
    const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (token_.empty() || mtime_ns != mtime_ns_) {
      auto text = ReadTrimmed(path_);
      if (!text.ok()) return token_.empty() ? text : Result<std::string>(token_);
      token_ = *text;
      mtime_ns_ = mtime_ns;
    }
    return token_;
  }

 private:
  const std::string path_;
  std::mutex mu_;
  std::string token_;
  int64_t mtime_ns_ = 0;
  std::chrono::steady_clock::time_point checked_;
};

}  // namespace

Result<ClusterAccess> LoadInCluster(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host) return Status::NotFound("not running in a cluster: KUBERNETES_SERVICE_HOST is not set");
  if (!port || !*port) return Status::NotFound("not running in a cluster: KUBERNETES_SERVICE_PORT is not set");
  ClusterAccess access;
  const std::string h = host;
  access.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  auto ca = ReadTrimmed(sa_dir + "/ca.crt");
  if (!ca.ok()) return ca.status().WithContext("in-cluster config");
  access.ca_pem = *ca + "\n";
  auto token = std::make_shared<RotatingToken>(sa_dir + "/token");
  auto first = token->Get();
  if (!first.ok()) return first.status().WithContext("in-cluster config");
  access.token_provider = [token]() { return token->Get(); };
  auto ns = ReadTrimmed(sa_dir + "/namespace");
  if (ns.ok()) access.ns = *ns;
  return access;
}

Result<ClusterAccess> LoadClusterAccess(const std::string& kubeconfig, const std::string& context) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (kubeconfig.empty() && host && *host) return LoadInCluster();
  if (kubeconfig.empty()) {
    return Status::InvalidArgument("no kubeconfig (set KUBECONFIG or pass --kubeconfig) and not in a cluster");
  }
  return LoadKubeconfig(kubeconfig, context);
}

}  // namespace mixserve::kube
