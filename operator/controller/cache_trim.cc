#include "operator/controller/cache_trim.h"

#include <initializer_list>

namespace mixserve::controller {
namespace {

using nlohmann::json;

constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";

// A copy of `from` with only `keys` (those present).
json Only(const json& from, std::initializer_list<const char*> keys) {
  json out = json::object();
  if (!from.is_object()) return out;
  for (const char* key : keys) {
    auto it = from.find(key);
    if (it != from.end()) out[key] = *it;
  }
  return out;
}

}  // namespace

void TrimForCache(const std::string& kind, json& object) {
  if (!object.is_object()) return;
  json& meta = object["metadata"];
  if (!meta.is_object()) return;
  meta.erase("managedFields");
  if (auto annotations = meta.find("annotations"); annotations != meta.end() && annotations->is_object()) {
    annotations->erase(kLastApplied);
  }
  if (kind == "Pod") {
    json trimmed = Only(object, {"apiVersion", "kind"});
    trimmed["metadata"] = Only(meta, {"name", "namespace", "uid", "resourceVersion", "labels", "ownerReferences",
                                      "deletionTimestamp"});
    trimmed["status"] = Only(object["status"], {"phase", "conditions", "containerStatuses", "initContainerStatuses"});
    object = std::move(trimmed);
  } else if (kind == "Node") {
    json trimmed = Only(object, {"apiVersion", "kind"});
    trimmed["metadata"] = Only(meta, {"name", "uid", "resourceVersion", "labels"});
    trimmed["status"] = Only(object["status"], {"allocatable"});
    object = std::move(trimmed);
  }
}

}  // namespace mixserve::controller
