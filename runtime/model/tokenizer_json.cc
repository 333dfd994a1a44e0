#include "runtime/model/tokenizer_json.h"

#include <utility>
#include <vector>

#include "runtime/model/utf8.h"

namespace mixserve::model::tokenizer_json {
namespace {

const nlohmann::json* Find(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status Missing(std::string_view where, std::string_view key, std::string_view wanted) {
  return Status::InvalidArgument(std::string(where) + ": field '" + std::string(key) + "' must be " +
                                 std::string(wanted));
}

}  // namespace

std::string TypeOf(const nlohmann::json& component) {
  const nlohmann::json* type = Find(component, "type");
  return type && type->is_string() ? type->get<std::string>() : std::string();
}

Result<std::string> GetString(const nlohmann::json& obj, std::string_view key, std::string_view where) {
  const nlohmann::json* v = Find(obj, key);
  if (!v || !v->is_string()) return Missing(where, key, "a string");
  return v->get<std::string>();
}

Result<bool> GetBool(const nlohmann::json& obj, std::string_view key, std::string_view where, bool fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) return Missing(where, key, "true or false");
  return v->get<bool>();
}

Result<size_t> GetCount(const nlohmann::json& obj, std::string_view key, std::string_view where, size_t fallback) {
  const nlohmann::json* v = Find(obj, key);
  if (!v) return fallback;
  if (!v->is_number_unsigned()) return Missing(where, key, "a non-negative integer");
  return v->get<size_t>();
}

Result<std::string> GetChar(const nlohmann::json& obj, std::string_view key, std::string_view where) {
  auto s = GetString(obj, key, where);
  if (!s.ok()) return s.status();
  if (s->empty() || utf8::SequenceLength(*s, 0) != s->size()) return Missing(where, key, "a single character");
  return s;
}

Result<Regex> GetPattern(const nlohmann::json& obj, std::string_view where) {
  const nlohmann::json* pattern = Find(obj, "pattern");
  if (pattern && pattern->is_object()) {
    if (const nlohmann::json* literal = Find(*pattern, "String"); literal && literal->is_string()) {
      return Regex::Literal(literal->get<std::string>());
    }
    if (const nlohmann::json* regex = Find(*pattern, "Regex"); regex && regex->is_string()) {
      auto compiled = Regex::Compile(regex->get<std::string>());
      if (!compiled.ok()) return compiled.status().WithContext(std::string(where));
      return compiled;
    }
  }
  return Missing(where, "pattern", "{\"String\": ...} or {\"Regex\": ...}");
}

Status CheckNesting(const nlohmann::json& component, size_t max_depth, std::string_view where) {
  std::vector<std::pair<const nlohmann::json*, size_t>> pending{{&component, 1}};
  while (!pending.empty()) {
    const auto [value, depth] = pending.back();
    pending.pop_back();
    if (!value->is_structured()) continue;
    if (depth > max_depth) {
      return Status::InvalidArgument(std::string(where) + " nests more than " + std::to_string(max_depth) + " levels deep");
    }
    for (const auto& child : *value) pending.emplace_back(&child, depth + 1);
  }
  return Status::Ok();
}

}  // namespace mixserve::model::tokenizer_json
