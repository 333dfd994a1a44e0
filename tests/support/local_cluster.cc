#include "tests/support/local_cluster.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace mixserve::testing {

std::string RepoRoot() {
  const char* root = std::getenv("MIXSERVE_ROOT");
  return root ? root : std::filesystem::current_path().string();
}

std::string RunCommand(const std::string& command, int* exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    *exit_code = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

LocalCluster::~LocalCluster() { Stop(); }

Status LocalCluster::Start() {
  char tmpl[] = "/tmp/mixserve-cluster-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::Io("mkdtemp failed");
  dir_ = tmpl;
  int rc = 0;
  std::string out = RunCommand(RepoRoot() + "/hack/cluster.sh up --dir " + dir_ + " 2>&1", &rc);
  running_ = true;  // even a failed start may have left processes for Stop() to clean up
  if (rc != 0) return Status::Unavailable("hack/cluster.sh up failed (exit " + std::to_string(rc) + "): " + out);
  return Status::Ok();
}

Status LocalCluster::Stop() {
  if (!running_) return Status::Ok();
  running_ = false;
  int rc = 0;
  std::string out = RunCommand(RepoRoot() + "/hack/cluster.sh down --dir " + dir_ + " 2>&1", &rc);
  if (rc != 0) return Status::Internal("hack/cluster.sh down failed: " + out);
  return Status::Ok();
}

Result<std::string> LocalCluster::Kubectl(const std::string& args) const {
  const char* cache = std::getenv("MIXSERVE_CACHE");
  std::string bin = cache ? std::string(cache) + "/bin/kubectl"
                          : std::string(std::getenv("HOME")) + "/.cache/mixserve/bin/kubectl";
  int rc = 0;
  std::string out = RunCommand(bin + " --kubeconfig " + kubeconfig() + " " + args + " 2>&1", &rc);
  if (rc != 0) return Status::Internal("kubectl " + args + " failed: " + out);
  return out;
}

}  // namespace mixserve::testing
