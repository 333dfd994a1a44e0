// Checks of an LLMService against the cluster, for what the CRD schema cannot see: a spec that fails
// validation anyway (an older CRD installed), Secrets that do not exist, more GPUs per node than any
// node has. Pure functions of the LLMService and the objects looked up; each finding is a Blocker
// (observe.h) whose message says what to fix.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"
#include "operator/controller/observe.h"

namespace mixserve::controller {

// A Secret key the pods mount; `field` is the spec path that names it.
struct SecretReference {
  std::string field;
  std::string name;
  std::string key;
};

// The Secrets the spec references (tokenSecretRef, auth.apiKeySecretRef), keys defaulted.
std::vector<SecretReference> ReferencedSecrets(const api::LLMService& service);

// InvalidSpec with Validate's message (after ApplyDefaults), or nothing.
std::optional<Blocker> CheckSpec(const api::LLMService& service);

// MissingSecret for the first referenced Secret that `get_secret(name)` does not find (nullopt) or
// that lacks the key. The message names the Secret, the key and the kubectl command to create it.
std::optional<Blocker> CheckSecrets(const api::LLMService& service,
                                    const std::function<std::optional<nlohmann::json>(const std::string& name)>& get_secret);

// InsufficientGPUs when resources.gpusPerNode exceeds every node's allocatable of the GPU resource
// (`nodes` as the API server returns them). No nodes at all: nothing to say (an autoscaler may add some).
std::optional<Blocker> CheckGpuCapacity(const api::LLMService& service, const std::vector<nlohmann::json>& nodes);

}  // namespace mixserve::controller
