// LocalCluster: the hack/cluster.sh control plane as a test fixture.
//
// Start() runs `hack/cluster.sh up --dir DIR` with a fresh DIR under the system temp directory, so
// several test processes can each have their own cluster; Stop() (or the destructor) runs `down`.
#pragma once

#include <string>

#include "runtime/base/status.h"

namespace mixserve::testing {

class LocalCluster {
 public:
  LocalCluster() = default;
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  Status Start();
  Status Stop();

  const std::string& dir() const { return dir_; }
  std::string kubeconfig() const { return dir_ + "/kubeconfig"; }

  // Runs `kubectl --kubeconfig <ours> <args>` and returns its stdout; fails on a non-zero exit.
  Result<std::string> Kubectl(const std::string& args) const;

 private:
  std::string dir_;
  bool running_ = false;
};

// The repository root (MIXSERVE_ROOT, which CTest sets).
std::string RepoRoot();

// Runs a shell command, returns stdout and sets *exit_code.
std::string RunCommand(const std::string& command, int* exit_code);

}  // namespace mixserve::testing
