// LLMService <-> JSON, in the shape the API server stores (camelCase fields, quantities as
// int-or-string).
//
// Reading ignores fields the schema does not know (managedFields, ...) and treats null as absent;
// a known field of the wrong type is an error naming its path (e.g. "spec.runtime.nodes: must be
// an integer"). Writing emits every field that has a value: fields with a CRD default always,
// optional and empty ones (empty strings, lists, maps) never, so the JSON of an object read from
// the API server reads back unchanged (quantities are written as strings: an integer 8 comes back
// as "8", the same quantity to the API server).
#pragma once

#include <nlohmann/json.hpp>

#include "operator/api/llmservice.h"
#include "runtime/base/status.h"

namespace mixserve::api {

// `object` is a whole LLMService (apiVersion/kind, if present, must name LLMService).
Result<LLMService> LLMServiceFromJson(const nlohmann::json& object);

nlohmann::json ToJson(const LLMService& service);
nlohmann::json SpecToJson(const LLMServiceSpec& spec);
nlohmann::json StatusToJson(const LLMServiceStatus& status);

// Parts of the spec that have a Pod spec's shape, written as a Pod spec holds them (the controller
// copies them into pod templates): placement's fields (nodeSelector, affinity, tolerations,
// priorityClassName, those set), one container env var, and image pull secrets as references.
nlohmann::json PlacementToJson(const PlacementSpec& placement);
nlohmann::json EnvVarToJson(const EnvVar& var);
nlohmann::json ImagePullSecretsToJson(const std::vector<std::string>& names);

}  // namespace mixserve::api
