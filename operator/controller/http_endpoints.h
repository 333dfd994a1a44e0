// HttpEndpoints: the operator's small HTTP servers (/metrics; /healthz and /readyz for probes).
//
// Serves GET on a fixed set of paths, each answered by a function called per request; anything
// else is 404. Built on cpprestsdk's http_listener.
//
//   auto server = HttpEndpoints::Start(":8081", {{"/healthz", [] { return HttpAnswer{200, "ok"}; }}});
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/base/status.h"

namespace mixserve::controller {

struct HttpAnswer {
  int code = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

// "host:port" or ":port" (all interfaces) → (host, port); "0" is not an address (callers treat it
// as "disabled" before calling). Errors name the flag value.
Result<std::pair<std::string, int>> ParseBindAddress(const std::string& address);

class HttpEndpoints {
 public:
  using Handler = std::function<HttpAnswer()>;

  // Binds `address` (ParseBindAddress syntax); Unavailable when the port cannot be bound.
  static Result<std::unique_ptr<HttpEndpoints>> Start(const std::string& address, std::map<std::string, Handler> routes);
  ~HttpEndpoints();  // closes the listener

  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

 private:
  struct Impl;
  explicit HttpEndpoints(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mixserve::controller
