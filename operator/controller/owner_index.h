// OwnerIndex: which cached objects belong to which LLMService, kept up to date from informer events.
//
// The reconciler must find an LLMService's children and pods without scanning every cached object
// of the namespace (that makes a resync of N services cost N², which 500 services notice). Children
// are indexed by the uid in their controller owner reference, pods by their mixserve.io/llmservice
// label. Handlers call Update with each event; lookups return names to Get() from the caches.
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mixserve::controller {

class OwnerIndex {
 public:
  // `kind` is the informer's kind ("Deployment", "Pod", ...); `type` ADDED, MODIFIED or DELETED.
  void Update(const std::string& type, const std::string& kind, const nlohmann::json& object);

  // (kind, name) of the objects whose controller owner reference has `uid`, sorted.
  std::vector<std::pair<std::string, std::string>> Children(const std::string& uid) const;
  // Names of the pods in `ns` labelled mixserve.io/llmservice=`label`, sorted.
  std::vector<std::string> Pods(const std::string& ns, const std::string& label) const;

 private:
  using Entry = std::pair<std::string, std::string>;  // (kind, name)
  mutable std::mutex mu_;
  std::map<std::string, std::set<Entry>> children_;   // owner uid -> children
  std::map<std::string, std::string> owner_of_;        // "kind/ns/name" -> owner uid
  std::map<std::string, std::set<std::string>> pods_;  // "ns/label" -> pod names
  std::map<std::string, std::string> label_of_;        // "ns/pod" -> "ns/label"
};

}  // namespace mixserve::controller
