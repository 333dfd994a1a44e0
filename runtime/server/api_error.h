// ApiError: an error as the OpenAI API reports it — an HTTP status and the body
// {"error": {"message", "type", "param", "code"}} — and ApiResult<T>, a T or such an error.
//
// Request parsing and validation return ApiResult so the HTTP layer only has to send what it gets.
#pragma once

#include <cassert>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

namespace mixserve::server {

struct ApiError {
  int http_status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // the offending field, "" when none
  std::string code;   // e.g. "model_not_found", "" when none

  // The response body; empty param/code become null.
  nlohmann::json ToJson() const;

  static ApiError Invalid(std::string message, std::string param = "");
  static ApiError ModelNotFound(const std::string& model);
  static ApiError Unauthorized();
  static ApiError Overloaded(std::string message);    // 429
  static ApiError Unavailable(std::string message);   // 503
  static ApiError NotFound(std::string message);      // 404 for routes
  static ApiError MethodNotAllowed(std::string message);
  static ApiError Internal(std::string message);
};

// A T, or the ApiError saying why there is none.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}
  ApiResult(ApiError error) : v_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, ApiError> v_;
};

// JSON text for the wire: invalid UTF-8 (possible in partial token text) becomes U+FFFD.
std::string DumpJson(const nlohmann::json& j);

}  // namespace mixserve::server
