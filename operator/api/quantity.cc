#include "operator/api/quantity.h"

#include <array>
#include <cctype>

namespace mixserve::api {
namespace {

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// Consumes a run of digits at text[*pos]; returns whether any digit was not '0'.
bool ReadDigits(std::string_view text, size_t* pos, size_t* count) {
  bool nonzero = false;
  *count = 0;
  while (*pos < text.size() && IsDigit(text[*pos])) {
    nonzero |= text[*pos] != '0';
    ++*pos;
    ++*count;
  }
  return nonzero;
}

bool IsSuffix(std::string_view suffix) {
  static constexpr std::array<std::string_view, 16> kSuffixes = {
      "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"};
  for (std::string_view s : kSuffixes) {
    if (suffix == s) return true;
  }
  // A decimal exponent: e or E, an optional sign, digits.
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return false;
  size_t pos = 1;
  if (suffix[pos] == '+' || suffix[pos] == '-') ++pos;
  size_t digits = 0;
  ReadDigits(suffix, &pos, &digits);
  return digits > 0 && pos == suffix.size();
}

// Parses the number part and suffix; *positive says whether the value is greater than zero.
bool Parse(std::string_view text, bool* positive) {
  size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) negative = text[pos++] == '-';
  size_t int_digits = 0, frac_digits = 0;
  bool nonzero = ReadDigits(text, &pos, &int_digits);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    nonzero |= ReadDigits(text, &pos, &frac_digits);
  }
  if (int_digits + frac_digits == 0) return false;
  if (!IsSuffix(text.substr(pos))) return false;
  *positive = nonzero && !negative;
  return true;
}

}  // namespace

bool IsQuantity(std::string_view text) {
  bool positive = false;
  return Parse(text, &positive);
}

bool IsPositiveQuantity(std::string_view text) {
  bool positive = false;
  return Parse(text, &positive) && positive;
}

}  // namespace mixserve::api
