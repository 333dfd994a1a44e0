#include "operator/controller/apply_plan.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <openssl/evp.h>

namespace mixserve::controller {

using nlohmann::json;

namespace {

bool IsZero(const json& value) {
  if (value.is_object() || value.is_array()) return value.empty();
  if (value.is_string()) return value.get_ref<const std::string&>().empty();
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_number()) return value == 0;
  return value.is_null();
}

}  // namespace

std::string ContentHash(const json& object) {
  const std::string text = object.dump(-1, ' ', false, json::error_handler_t::replace);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  char hex[3];
  for (unsigned int i = 0; i < 8 && i < length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

json StampRenderedHash(json child) {
  const std::string hash = ContentHash(child);
  child["metadata"]["annotations"][kRenderedHashAnnotation] = hash;
  return child;
}

bool ContainsFields(const json& live, const json& desired) {
  if (desired.is_object()) {
    if (!live.is_object()) return false;
    for (const auto& [key, value] : desired.items()) {
      auto it = live.find(key);
      if (it == live.end()) {
        // Zero values (false, 0, "", {} and []) are what Go's omitempty drops on storage: no difference.
        if (IsZero(value)) continue;
        return false;
      }
      if (!ContainsFields(*it, value)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return false;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!ContainsFields(live[i], desired[i])) return false;
    }
    return true;
  }
  if (desired.is_number_integer() && live.is_string()) return live.get<std::string>() == std::to_string(desired.get<int64_t>());
  return live == desired;
}

bool NeedsApply(const json& stamped, const json& live) {
  if (!live.is_object()) return true;
  const json& annotations = live["metadata"].value("annotations", json::object());
  if (annotations.value(kRenderedHashAnnotation, "") != stamped["metadata"]["annotations"][kRenderedHashAnnotation]) {
    return true;
  }
  // Objects in list answers come without apiVersion and kind: compare the rest.
  json fields = stamped;
  fields.erase("apiVersion");
  fields.erase("kind");
  return !ContainsFields(live, fields);
}

bool ControlledBy(const json& object, const std::string& uid) {
  const json& meta = object.value("metadata", json::object());
  for (const json& ref : meta.value("ownerReferences", json::array())) {
    if (ref.value("uid", "") == uid && ref.value("controller", false)) return true;
  }
  return false;
}

std::string ChildId(const json& object) {
  return object.value("kind", "") + "/" + object.value("metadata", json::object()).value("name", "");
}

std::vector<json> Orphans(const std::vector<json>& owned, const std::vector<json>& rendered) {
  std::set<std::string> keep;
  for (const json& child : rendered) keep.insert(ChildId(child));
  std::vector<json> out;
  for (const json& child : owned) {
    if (!keep.count(ChildId(child))) out.push_back(child);
  }
  return out;
}

}  // namespace mixserve::controller
