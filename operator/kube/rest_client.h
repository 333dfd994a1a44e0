// RestClient: plain HTTPS verbs against the Kubernetes API server, authenticated as a ClusterAccess says.
//
// Uses cpprestsdk for HTTP and its Boost.Asio TLS context for the CA and client certificate, with
// server certificates verified. Transport failures come back as a non-ok Status; HTTP error codes
// are returned as responses, since callers (e.g. 404 on get, 409 on create) treat them differently.
#pragma once

#include <memory>
#include <string>

#include "operator/kube/kubeconfig.h"
#include "runtime/base/status.h"

namespace mixserve::kube {

struct Response {
  int status = 0;
  std::string body;
};

class RestClient {
 public:
  explicit RestClient(ClusterAccess access);
  ~RestClient();

  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // `path` is relative to the server, e.g. "/api/v1/namespaces".
  Result<Response> Get(const std::string& path);
  Result<Response> Request(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::string& content_type = "application/json");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mixserve::kube
