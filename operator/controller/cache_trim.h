// TrimForCache: what the operator's informer caches keep of each object (Informer::SetTransform).
//
// Caches of 500 LLMServices and their children hold thousands of objects; most of each object is
// metadata.managedFields and, for kubectl-applied objects, the last-applied-configuration copy,
// neither of which the controller reads. Pods keep only what Observe looks at (metadata the index
// and owner lookups need, and status); Nodes only their labels and allocatable resources.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mixserve::controller {

// `kind` is the informer's kind ("Pod", "Node", "Deployment", ...). Keeps metadata.name,
// namespace, uid, resourceVersion (the informer compares it) and everything the controller reads.
void TrimForCache(const std::string& kind, nlohmann::json& object);

}  // namespace mixserve::controller
