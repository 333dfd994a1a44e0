#include "operator/kube/client.h"

namespace mixserve::kube {
namespace {

using nlohmann::json;

const char kApplyContentType[] = "application/apply-patch+yaml";

std::string NameOf(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value("name", "");
}

std::string NamespaceOf(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value("namespace", "");
}

}  // namespace

Client::Client(ClusterAccess access) : rest_(std::make_unique<RestClient>(std::move(access))) {}

Client::~Client() = default;

const ClusterAccess& Client::access() const { return rest_->access(); }

Result<json> Client::Call(const std::string& verb, const std::string& path, const json* body,
                          const std::string& content_type) {
  auto resp = rest_->Request(verb, path, body ? body->dump() : "", content_type);
  if (!resp.ok()) {
    counters_.Record(verb, 0);
    return resp.status();
  }
  counters_.Record(verb, resp->status);
  if (resp->status < 200 || resp->status >= 300) return ApiError(verb, path, *resp);
  if (resp->body.empty()) return json::object();
  auto parsed = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::Internal(verb + " " + path + ": the answer is not JSON");
  return parsed;
}

Result<json> Client::Get(const ResourceKind& kind, const std::string& ns, const std::string& name) {
  return Call("GET", ObjectPath(kind, ns, name), nullptr, "");
}

Result<json> Client::List(const ResourceKind& kind, const std::string& ns, const std::string& label_selector) {
  std::string path = CollectionPath(kind, ns);
  if (!label_selector.empty()) path += "?labelSelector=" + QueryEscape(label_selector);
  return Call("GET", path, nullptr, "");
}

Result<json> Client::Apply(const json& object, const std::string& field_manager) {
  auto kind = KindOfObject(object);
  if (!kind.ok()) return kind.status().WithContext("apply");
  const std::string name = NameOf(object);
  if (name.empty()) return Status::InvalidArgument("apply " + kind->kind + ": metadata.name is empty");
  const std::string path = ObjectPath(*kind, NamespaceOf(object), name) +
                           "?fieldManager=" + QueryEscape(field_manager) + "&force=true";
  return Call("PATCH", path, &object, kApplyContentType);
}

Result<json> Client::ApplyStatus(const json& object, const std::string& field_manager) {
  auto kind = KindOfObject(object);
  if (!kind.ok()) return kind.status().WithContext("apply status");
  const std::string name = NameOf(object);
  if (name.empty()) return Status::InvalidArgument("apply status of " + kind->kind + ": metadata.name is empty");
  const std::string path = ObjectPath(*kind, NamespaceOf(object), name) +
                           "/status?fieldManager=" + QueryEscape(field_manager) + "&force=true";
  return Call("PATCH", path, &object, kApplyContentType);
}

Result<json> Client::Create(const ResourceKind& kind, const std::string& ns, const json& object) {
  return Call("POST", CollectionPath(kind, ns), &object, "application/json");
}

Result<json> Client::Update(const ResourceKind& kind, const std::string& ns, const json& object) {
  const std::string name = NameOf(object);
  if (name.empty()) return Status::InvalidArgument("update " + kind.kind + ": metadata.name is empty");
  return Call("PUT", ObjectPath(kind, ns, name), &object, "application/json");
}

Result<json> Client::UpdateStatus(const ResourceKind& kind, const std::string& ns, const json& object) {
  const std::string name = NameOf(object);
  if (name.empty()) return Status::InvalidArgument("update status of " + kind.kind + ": metadata.name is empty");
  return Call("PUT", ObjectPath(kind, ns, name) + "/status", &object, "application/json");
}

Result<json> Client::MergePatch(const ResourceKind& kind, const std::string& ns, const std::string& name,
                                const json& patch) {
  return Call("PATCH", ObjectPath(kind, ns, name), &patch, "application/merge-patch+json");
}

Status Client::Delete(const ResourceKind& kind, const std::string& ns, const std::string& name) {
  const json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", "Background"}};
  auto result = Call("DELETE", ObjectPath(kind, ns, name), &options, "application/json");
  return result.status();
}

Status Client::Watch(const ResourceKind& kind, const std::string& ns, const std::string& resource_version,
                     const std::string& label_selector, int timeout_seconds,
                     const std::function<void(const std::string& type, const json& object)>& on_event,
                     const std::function<bool()>& stop) {
  std::string path = CollectionPath(kind, ns) + "?watch=true&allowWatchBookmarks=true";
  if (timeout_seconds > 0) path += "&timeoutSeconds=" + std::to_string(timeout_seconds);
  if (!resource_version.empty()) path += "&resourceVersion=" + QueryEscape(resource_version);
  if (!label_selector.empty()) path += "&labelSelector=" + QueryEscape(label_selector);

  int http_status = 0;
  std::string error_body;
  Status event_error;
  auto on_line = [&](const std::string& line) {
    auto event = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object() || !event.contains("type") || !event["type"].is_string()) {
      event_error = Status::Internal("WATCH " + path + ": malformed event line");
      return false;
    }
    const std::string type = event["type"].get<std::string>();
    const json& object = event.contains("object") ? event["object"] : json::object();
    if (type == "ERROR") {
      const int code = object.value("code", 0);
      const std::string message = object.value("message", "watch error");
      if (code == 410) {
        event_error = GoneError(message);
      } else {
        event_error = ApiError("WATCH", path, Response{code == 0 ? 500 : code, object.dump()});
      }
      return false;
    }
    on_event(type, object);
    return true;
  };
  Status streamed = rest_->Stream(
      path, [&](int status) { http_status = status; }, on_line, stop, &error_body);
  counters_.Record("WATCH", http_status);
  if (!streamed.ok()) return streamed;
  if (http_status != 200) return ApiError("WATCH", path, Response{http_status, error_body});
  return event_error;
}

}  // namespace mixserve::kube
