#include "operator/controller/owner_index.h"

#include "operator/api/llmservice.h"
#include "operator/controller/names.h"

namespace mixserve::controller {

using nlohmann::json;

namespace {

template <typename Map, typename Value>
void EraseFrom(Map& index, const std::string& key, const Value& value) {
  auto it = index.find(key);
  if (it == index.end()) return;
  it->second.erase(value);
  if (it->second.empty()) index.erase(it);
}

}  // namespace

void OwnerIndex::Update(const std::string& type, const std::string& kind, const json& object) {
  const json& meta = object.value("metadata", json::object());
  const std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
  const bool gone = type == "DELETED";
  std::lock_guard<std::mutex> lock(mu_);
  if (kind == "Pod") {
    const std::string pod_key = ns + "/" + name;
    auto old = label_of_.find(pod_key);
    if (old != label_of_.end()) {
      EraseFrom(pods_, old->second, name);
      label_of_.erase(old);
    }
    const std::string label = meta.value("labels", json::object()).value(kLabelService, "");
    if (!gone && !label.empty()) {
      pods_[ns + "/" + label].insert(name);
      label_of_[pod_key] = ns + "/" + label;
    }
    return;
  }
  const std::string object_key = kind + "/" + ns + "/" + name;
  auto old = owner_of_.find(object_key);
  if (old != owner_of_.end()) {
    EraseFrom(children_, old->second, Entry(kind, name));
    owner_of_.erase(old);
  }
  if (gone) return;
  for (const json& ref : meta.value("ownerReferences", json::array())) {
    if (ref.value("kind", "") == api::kKind && ref.value("controller", false)) {
      const std::string uid = ref.value("uid", "");
      children_[uid].insert(Entry(kind, name));
      owner_of_[object_key] = uid;
    }
  }
}

std::vector<std::pair<std::string, std::string>> OwnerIndex::Children(const std::string& uid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(uid);
  if (it == children_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> OwnerIndex::Pods(const std::string& ns, const std::string& label) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pods_.find(ns + "/" + label);
  if (it == pods_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace mixserve::controller
