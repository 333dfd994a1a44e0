#include "runtime/server/serve_options.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace mixserve::server {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits "1.5GiB" into 1.5 and "gib"; false when there is no leading number.
bool SplitNumber(const std::string& text, double& number, std::string& unit) {
  std::string t = Trim(text);
  if (t.empty() || !(std::isdigit(static_cast<unsigned char>(t[0])) || t[0] == '.')) return false;
  char* end = nullptr;
  number = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || !std::isfinite(number) || number < 0) return false;
  unit = Lower(Trim(std::string(end)));
  return true;
}

}  // namespace

Result<int64_t> ParseByteSize(const std::string& text) {
  double number = 0;
  std::string unit;
  auto bad = [&] { return Status::InvalidArgument("'" + text + "' is not a byte size (e.g. 536870912, 512MiB, 2GiB)"); };
  if (!SplitNumber(text, number, unit)) return bad();
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1.0},          {"b", 1.0},
      {"k", 1024.0},      {"ki", 1024.0},      {"kib", 1024.0},      {"kb", 1e3},
      {"m", 1048576.0},   {"mi", 1048576.0},   {"mib", 1048576.0},   {"mb", 1e6},
      {"g", 1073741824.0}, {"gi", 1073741824.0}, {"gib", 1073741824.0}, {"gb", 1e9},
      {"t", 1099511627776.0}, {"ti", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      double bytes = number * scale;
      if (bytes > 9e18) return bad();
      return static_cast<int64_t>(bytes);
    }
  }
  return bad();
}

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  double number = 0;
  std::string unit;
  auto bad = [&] { return Status::InvalidArgument("'" + text + "' is not a duration (e.g. 100s, 2m, 500ms)"); };
  if (!SplitNumber(text, number, unit)) return bad();
  double ms = 0;
  if (unit == "ms") ms = number;
  else if (unit.empty() || unit == "s") ms = number * 1e3;
  else if (unit == "m") ms = number * 60e3;
  else if (unit == "h") ms = number * 3600e3;
  else return bad();
  if (ms > 1e15) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::vector<std::string> SplitServedNames(const std::vector<std::string>& values) {
  std::vector<std::string> names;
  for (const std::string& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string name = Trim(v.substr(start, comma - start));
      if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
      start = comma + 1;
    }
  }
  return names;
}

std::string DefaultServedName(const std::string& model_uri) {
  std::string s = model_uri;
  if (s.rfind("hf://", 0) == 0) {
    s = s.substr(5);
    if (size_t at = s.find('@'); at != std::string::npos) s.resize(at);
    return s;
  }
  if (s.rfind("file://", 0) == 0) s = s.substr(7);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  size_t slash = s.find_last_of('/');
  std::string base = slash == std::string::npos ? s : s.substr(slash + 1);
  return base.empty() ? model_uri : base;
}

}  // namespace mixserve::server
