#include "runtime/model/json_object.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mixserve::model {

using nlohmann::json;

Result<json> ParseJsonObject(std::string_view text) {
  // One entry per open container: the keys seen so far for an object, nothing for an array.
  std::vector<std::optional<std::set<std::string>>> open_containers;
  std::string duplicate_key;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_containers.emplace_back(std::set<std::string>{});
        break;
      case json::parse_event_t::array_start:
        open_containers.emplace_back(std::nullopt);
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open_containers.empty()) open_containers.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_containers.empty() && open_containers.back() &&
            !open_containers.back()->insert(parsed.get<std::string>()).second && duplicate_key.empty()) {
          duplicate_key = parsed.get<std::string>();
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  json value;
  try {
    value = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("not valid JSON: ") + e.what());
  }
  if (!duplicate_key.empty()) return Status::InvalidArgument("duplicate key \"" + duplicate_key + "\"");
  if (!value.is_object()) {
    return Status::InvalidArgument(std::string("expected a JSON object, got ") + JsonKindName(value));
  }
  return value;
}

std::string MessageSafe(std::string_view text) {
  bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7F;
  });
  if (printable) return std::string(text);
  std::string escaped = json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  return escaped.substr(1, escaped.size() - 2);
}

std::string DescribeJson(const json& value) {
  if (value.is_structured()) return JsonKindName(value);
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kMaxChars = 40;
  return text.size() <= kMaxChars ? text : text.substr(0, kMaxChars) + "...";
}

const char* JsonKindName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::binary:
      return "binary";
    case json::value_t::discarded:
      return "nothing";
  }
  return "?";
}

}  // namespace mixserve::model
