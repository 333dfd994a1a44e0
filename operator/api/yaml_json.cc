#include "operator/api/yaml_json.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace mixserve::api {
namespace {

using nlohmann::json;

// Scalar typing by hand rather than std::regex: libstdc++'s regex recurses once per character and
// can overflow the stack on a long scalar.
bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsDecimalFloat(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  size_t exponent = s.find_first_of("eE");
  if (exponent != std::string_view::npos) {
    std::string_view e = s.substr(exponent + 1);
    if (!e.empty() && (e[0] == '-' || e[0] == '+')) e.remove_prefix(1);
    if (!AllDigits(e)) return false;
    s = s.substr(0, exponent);
  }
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) return AllDigits(s);
  std::string_view whole = s.substr(0, dot), fraction = s.substr(dot + 1);
  return whole.empty() ? AllDigits(fraction) : AllDigits(whole) && (fraction.empty() || AllDigits(fraction));
}

// A plain (unquoted, untagged) scalar, typed as YAML 1.2's core schema says (decimal forms only).
json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string_view unsigned_part = s;
  if (s[0] == '-' || s[0] == '+') unsigned_part.remove_prefix(1);
  if (AllDigits(unsigned_part)) {
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    const char* end = s.data() + s.size();
    int64_t v = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, v); ec == std::errc() && ptr == end) return v;
    uint64_t u = 0;
    if (auto [ptr, ec] = std::from_chars(begin, end, u); ec == std::errc() && ptr == end) return u;
  }
  if (IsDecimalFloat(s)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == "+.inf" || s == ".Inf" || s == "+.Inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf" || s == "-.Inf") return -std::numeric_limits<double>::infinity();
  return s;
}

json Convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags plain scalars "?" and quoted ones "!".
      return node.Tag() == "?" ? PlainScalar(node.Scalar()) : json(node.Scalar());
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) out.push_back(Convert(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = Convert(kv.second);
      return out;
    }
  }
  return nullptr;
}

}  // namespace

Result<json> YamlToJson(const std::string& text) {
  try {
    return Convert(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace mixserve::api
