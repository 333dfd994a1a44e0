// RestClient: plain HTTPS verbs against the Kubernetes API server, authenticated as a ClusterAccess says.
//
// Uses cpprestsdk for HTTP and its Boost.Asio TLS context for the CA and client certificate, with
// server certificates verified. Transport failures come back as a non-ok Status; HTTP error codes
// are returned as responses, since callers (e.g. 404 on get, 409 on create) treat them differently.
#pragma once

#include <functional>
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

  const ClusterAccess& access() const;

  // `path` is relative to the server, e.g. "/api/v1/namespaces".
  Result<Response> Get(const std::string& path);
  Result<Response> Request(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::string& content_type = "application/json");

  // GET `path` and hand the response body to on_line one line at a time as it arrives (chunked
  // watch streams), without waiting for the body to end. Before the body is read, on_status gets
  // the HTTP status; when it is not 200 the body is collected whole into *error_body instead.
  // Returns when the body ends, on a transport error, or soon (~100 ms) after `stop` returns true
  // (the request is cancelled). on_line returning false also ends the stream.
  Status Stream(const std::string& path, const std::function<void(int status)>& on_status,
                const std::function<bool(const std::string& line)>& on_line, const std::function<bool()>& stop,
                std::string* error_body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mixserve::kube
