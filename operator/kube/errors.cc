#include "operator/kube/errors.h"

#include <cctype>

#include <nlohmann/json.hpp>

namespace mixserve::kube {
namespace {

// The reason the API server would give for an HTTP code when its answer has no Status object.
std::string DefaultReason(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "Failure";
  }
}

Status::Code CodeFor(int http) {
  if (http == 404) return Status::Code::kNotFound;
  if (http == 401 || http == 403) return Status::Code::kPermissionDenied;
  if (http == 400 || http == 422 || http == 415) return Status::Code::kInvalidArgument;
  if (http == 409 || http == 410) return Status::Code::kUnavailable;
  if (http >= 500 || http == 429) return Status::Code::kUnavailable;
  return Status::Code::kInternal;
}

Status Make(Status::Code code, std::string msg) {
  switch (code) {
    case Status::Code::kNotFound: return Status::NotFound(std::move(msg));
    case Status::Code::kPermissionDenied: return Status::PermissionDenied(std::move(msg));
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(std::move(msg));
    case Status::Code::kUnavailable: return Status::Unavailable(std::move(msg));
    default: return Status::Internal(std::move(msg));
  }
}

// The "<Reason> (<code>)" tag every API error message carries; the predicates look for it.
std::string Tag(const std::string& reason, int code) { return reason + " (" + std::to_string(code) + ")"; }

bool HasTag(const Status& s, const std::string& reason, int code) {
  return !s.ok() && s.message().find(": " + Tag(reason, code) + ":") != std::string::npos;
}

}  // namespace

Status ApiError(const std::string& verb, const std::string& path, const Response& response) {
  const int code = response.status;
  std::string reason = DefaultReason(code);
  std::string message = response.body;
  auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.value("kind", "") == "Status") {
    if (body.contains("reason") && body["reason"].is_string() && !body["reason"].get<std::string>().empty()) {
      reason = body["reason"].get<std::string>();
    }
    if (body.contains("message") && body["message"].is_string()) message = body["message"].get<std::string>();
  }
  if (message.size() > 2000) message.resize(2000);
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return Make(CodeFor(code), verb + " " + path + ": " + Tag(reason, code) + ": " + message);
}

Status GoneError(const std::string& message) { return Status::Unavailable("WATCH: " + Tag("Gone", 410) + ": " + message); }

bool IsNotFound(const Status& s) { return s.code() == Status::Code::kNotFound; }
bool IsConflict(const Status& s) { return HasTag(s, "Conflict", 409); }
bool IsAlreadyExists(const Status& s) { return HasTag(s, "AlreadyExists", 409); }
bool IsGone(const Status& s) { return HasTag(s, "Gone", 410) || HasTag(s, "Expired", 410); }
bool IsInvalid(const Status& s) { return HasTag(s, "Invalid", 422); }
bool IsForbidden(const Status& s) { return HasTag(s, "Forbidden", 403) || HasTag(s, "Unauthorized", 401); }

int HttpCodeOf(const Status& s) {
  if (s.ok()) return 0;
  const std::string& m = s.message();
  // The tag is ": <Reason> (<ddd>): ".
  for (size_t p = m.find(" ("); p != std::string::npos; p = m.find(" (", p + 1)) {
    if (p + 8 <= m.size() && m.compare(p + 5, 3, "): ") == 0 && std::isdigit(m[p + 2]) && std::isdigit(m[p + 3]) &&
        std::isdigit(m[p + 4])) {
      return std::stoi(m.substr(p + 2, 3));
    }
  }
  return 0;
}

}  // namespace mixserve::kube
