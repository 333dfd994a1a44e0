// ApiError: an error as the OpenAI API reports it — an HTTP status and the body
// {"error": {"message", "type", "param", "code"}} — and ApiResult<T>, a T or such an error.
//
// Request parsing and validation return ApiResult so the HTTP layer only has to send what it gets.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "runtime/base/status.h"

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
class ApiResult : public ValueOr<T, ApiError> {
 public:
  ApiResult(T value) : ValueOr<T, ApiError>(std::move(value)) {}
  ApiResult(ApiError error) : ValueOr<T, ApiError>(std::move(error)) {}

  const ApiError& error() const { return this->error_value(); }
};

// JSON text for the wire: invalid UTF-8 (possible in partial token text) becomes U+FFFD.
std::string DumpJson(const nlohmann::json& j);

}  // namespace mixserve::server
