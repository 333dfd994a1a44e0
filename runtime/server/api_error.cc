#include "runtime/server/api_error.h"

namespace mixserve::server {

nlohmann::json ApiError::ToJson() const {
  nlohmann::json error = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) error["param"] = param;
  if (!code.empty()) error["code"] = code;
  return {{"error", error}};
}

ApiError ApiError::Invalid(std::string message, std::string param) {
  return ApiError{400, "invalid_request_error", std::move(message), std::move(param), ""};
}

ApiError ApiError::ModelNotFound(const std::string& model) {
  return ApiError{404, "invalid_request_error", "The model `" + model + "` does not exist.", "model",
                  "model_not_found"};
}

ApiError ApiError::Unauthorized() {
  return ApiError{401, "invalid_request_error", "Incorrect API key provided.", "", "invalid_api_key"};
}

ApiError ApiError::Overloaded(std::string message) {
  return ApiError{429, "rate_limit_exceeded", std::move(message), "", "rate_limit_exceeded"};
}

ApiError ApiError::Unavailable(std::string message) {
  return ApiError{503, "service_unavailable", std::move(message), "", "service_unavailable"};
}

ApiError ApiError::NotFound(std::string message) {
  return ApiError{404, "invalid_request_error", std::move(message), "", "not_found"};
}

ApiError ApiError::MethodNotAllowed(std::string message) {
  return ApiError{405, "invalid_request_error", std::move(message), "", "method_not_allowed"};
}

ApiError ApiError::Internal(std::string message) {
  return ApiError{500, "internal_error", std::move(message), "", "internal_error"};
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mixserve::server
