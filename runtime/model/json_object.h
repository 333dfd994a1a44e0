// Strict parsing of the JSON files a model folder holds (config.json, safetensors headers,
// model.safetensors.index.json).
//
// nlohmann_json keeps the last of two equal keys silently; in a weights header that would hide a
// tensor, so these parsers reject duplicate keys at any depth. Nothing here throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "runtime/base/status.h"

namespace mixserve::model {

// Parses `text` as one JSON value whose top level must be an object. Errors (not JSON, not an
// object, a duplicate key) are InvalidArgument with a one-line message; the caller adds context.
Result<nlohmann::json> ParseJsonObject(std::string_view text);

// `text` ready for a one-line message: as is when printable, else with control bytes escaped as
// in JSON (a tensor name may hold a newline).
std::string MessageSafe(std::string_view text);

// A short rendering of a value for messages: scalars as JSON writes them (long ones cut), objects
// and arrays by kind only (they could be long, and printing deep nesting would exhaust the stack).
std::string DescribeJson(const nlohmann::json& value);

// "object", "array", "string", "number", ...: for messages that say what was found instead.
const char* JsonKindName(const nlohmann::json& value);

}  // namespace mixserve::model
