// mixserve-operator: wires flags to the controller. At this stage it can check its connection to
// the API server (--check): the reconcile loop lands with the operator-core issue.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "operator/kube/kubeconfig.h"
#include "operator/kube/rest_client.h"
#include "runtime/base/version.h"

namespace {

const char kUsage[] =
    "usage: mixserve-operator [--kubeconfig PATH] [--check] [--version]\n"
    "  --kubeconfig PATH  kubeconfig to use (default: $KUBECONFIG)\n"
    "  --check            connect to the API server, print its /readyz answer and exit\n";

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig = std::getenv("KUBECONFIG") ? std::getenv("KUBECONFIG") : "";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("mixserve-operator %s\n", mixserve::Version());
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--kubeconfig" && i + 1 < argc) {
      kubeconfig = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else {
      std::fprintf(stderr, "mixserve-operator: unknown flag '%s' (try --help)\n", arg.c_str());
      return 2;
    }
  }
  if (!check) {
    std::fprintf(stderr, "mixserve-operator: the reconcile loop is not in this build yet; use --check\n");
    return 2;
  }
  if (kubeconfig.empty()) {
    std::fprintf(stderr, "mixserve-operator: no kubeconfig (set KUBECONFIG or pass --kubeconfig)\n");
    return 2;
  }
  auto access = mixserve::kube::LoadKubeconfig(kubeconfig);
  if (!access.ok()) {
    std::fprintf(stderr, "mixserve-operator: %s\n", access.status().message().c_str());
    return 1;
  }
  mixserve::kube::RestClient client(*access);
  auto resp = client.Get("/readyz");
  if (!resp.ok()) {
    std::fprintf(stderr, "mixserve-operator: %s\n", resp.status().message().c_str());
    return 1;
  }
  std::printf("%s /readyz: %d %s\n", access->server.c_str(), resp->status, resp->body.c_str());
  return resp->status == 200 ? 0 : 1;
}
