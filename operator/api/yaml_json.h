// YAML manifests (and JSON, which is YAML) read into nlohmann::json, for LLMServiceFromJson.
//
// Plain scalars are typed as in YAML 1.2's core schema, decimal forms only (null, true/false,
// decimal integers, floats, .inf); quoted scalars and anything tagged (e.g. !!str) stay strings,
// so `cpu: "8"` and `cpu: 8` differ as they do for kubectl.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::api {

// The first document of `text`; a syntax error is InvalidArgument with its line and column.
Result<nlohmann::json> YamlToJson(const std::string& text);

}  // namespace mixserve::api
