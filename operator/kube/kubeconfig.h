// Kubeconfig: where the API server is and how to authenticate to it.
//
// Loads the current context of a kubeconfig file (certificate/key/CA as files or inline base64
// data, bearer tokens, `exec` credential plugins) into one flat ClusterAccess that the REST client
// consumes. PEM contents are read eagerly so that later TLS setup cannot fail on a missing file.
// Tokens that change over time (exec plugins, rotated service-account tokens) come through
// token_provider, which the REST client asks before every request.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::kube {

struct ClusterAccess {
  std::string server;           // e.g. https://127.0.0.1:6443
  std::string ca_pem;           // empty: system trust store
  std::string client_cert_pem;  // empty: no client certificate
  std::string client_key_pem;
  std::string bearer_token;     // empty: none
  bool insecure_skip_tls_verify = false;
  // When set, called before every request for the bearer token (overrides bearer_token); an
  // error fails the request with that Status.
  std::function<Result<std::string>()> token_provider;
  std::string ns;  // the context's namespace, or the pod's namespace in-cluster; may be empty
  // How long a request may wait for an answer (for watches: the longest silence between chunks is
  // max(this, 5 min)).
  std::chrono::milliseconds request_timeout{30000};
};

// Reads `path`, picks `context` (or current-context when empty) and resolves its cluster and user.
// Relative file paths inside the kubeconfig are resolved against the kubeconfig's directory.
Result<ClusterAccess> LoadKubeconfig(const std::string& path, const std::string& context = "");

}  // namespace mixserve::kube
