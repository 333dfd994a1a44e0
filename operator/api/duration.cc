#include "operator/api/duration.h"

#include <array>
#include <cctype>
#include <cstdlib>
#include <string>
#include <utility>

namespace mixserve::api {
namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Seconds per unit. Longer names first, so "ms" is not read as "m" followed by "s".
constexpr std::array<std::pair<std::string_view, double>, 6> kUnits = {{
    {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0},
}};

// Go durations are int64 nanoseconds; longer ones are an error there, so here too.
constexpr double kMaxSeconds = 9223372036.854775807;

}  // namespace

Result<double> ParseDurationSeconds(std::string_view text) {
  auto invalid = [&] {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a duration such as 90s, 30m or 1h30m");
  };
  if (text.empty()) return invalid();
  double total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    if (pos == start) return invalid();
    if (pos < text.size() && text[pos] == '.') {
      size_t frac_start = ++pos;
      while (pos < text.size() && IsDigit(text[pos])) ++pos;
      if (pos == frac_start) return invalid();
    }
    double number = std::strtod(std::string(text.substr(start, pos - start)).c_str(), nullptr);
    const std::pair<std::string_view, double>* unit = nullptr;
    for (const auto& u : kUnits) {
      if (text.substr(pos, u.first.size()) == u.first) {
        unit = &u;
        break;
      }
    }
    if (!unit) return invalid();
    pos += unit->first.size();
    total += number * unit->second;
  }
  if (total > kMaxSeconds) return invalid();
  return total;
}

}  // namespace mixserve::api
