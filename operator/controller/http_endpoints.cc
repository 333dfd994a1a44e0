#include "operator/controller/http_endpoints.h"

#include <charconv>
#include <exception>

#include <cpprest/http_listener.h>

namespace mixserve::controller {

using web::http::http_request;
using web::http::experimental::listener::http_listener;

struct HttpEndpoints::Impl {
  std::map<std::string, Handler> routes;
  std::unique_ptr<http_listener> listener;
};

Result<std::pair<std::string, int>> ParseBindAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("bind address '" + address + "' must look like :8080 or 127.0.0.1:8080");
  }
  std::string host = address.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  int port = -1;
  const std::string digits = address.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 0 || port > 65535) {
    return Status::InvalidArgument("bind address '" + address + "': port must be a number from 0 to 65535");
  }
  return std::make_pair(host, port);
}

HttpEndpoints::HttpEndpoints(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpEndpoints::~HttpEndpoints() {
  if (!impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // Closing a listener whose connections already broke is not worth reporting at exit.
  }
}

Result<std::unique_ptr<HttpEndpoints>> HttpEndpoints::Start(const std::string& address, std::map<std::string, Handler> routes) {
  auto bind = ParseBindAddress(address);
  if (!bind.ok()) return bind.status();
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  Impl* raw = impl.get();
  try {
    impl->listener = std::make_unique<http_listener>(
        web::uri("http://" + bind->first + ":" + std::to_string(bind->second) + "/"));
    impl->listener->support([raw](http_request request) {
      auto it = raw->routes.find(request.relative_uri().path());
      if (request.method() != web::http::methods::GET || it == raw->routes.end()) {
        request.reply(web::http::status_codes::NotFound, "not found\n");
        return;
      }
      HttpAnswer answer = it->second();
      request.reply(answer.code, answer.body, answer.content_type);
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot listen on " + address + ": " + e.what());
  }
  return std::unique_ptr<HttpEndpoints>(new HttpEndpoints(std::move(impl)));
}

}  // namespace mixserve::controller
