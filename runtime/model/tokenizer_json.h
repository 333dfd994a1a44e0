// Typed reads of tokenizer.json fields. Every miss is a one-line Status naming the component and
// the field, so a malformed file reports what is wrong instead of throwing from nlohmann::json.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"
#include "runtime/model/regex.h"

namespace mixserve::model::tokenizer_json {

// The "type" member of a component, or "" when there is none.
std::string TypeOf(const nlohmann::json& component);

// obj[key] as a string; `where` names the component in the error.
Result<std::string> GetString(const nlohmann::json& obj, std::string_view key, std::string_view where);

// obj[key] as a bool; `fallback` when the key is absent or null.
Result<bool> GetBool(const nlohmann::json& obj, std::string_view key, std::string_view where, bool fallback);

// obj[key] as an unsigned count; `fallback` when the key is absent or null.
Result<size_t> GetCount(const nlohmann::json& obj, std::string_view key, std::string_view where, size_t fallback);

// obj[key] as exactly one Unicode character (UTF-8).
Result<std::string> GetChar(const nlohmann::json& obj, std::string_view key, std::string_view where);

// A "pattern" member: {"String": literal} or {"Regex": oniguruma pattern}.
Result<Regex> GetPattern(const nlohmann::json& obj, std::string_view where);

// Fails when `component` nests objects and lists more than `max_depth` deep, so that parsing its
// Sequence members recursively cannot exhaust the stack.
Status CheckNesting(const nlohmann::json& component, size_t max_depth, std::string_view where);

}  // namespace mixserve::model::tokenizer_json
