#include "runtime/model/byte_level.h"

#include <array>

#include "runtime/model/utf8.h"

namespace mixserve::model::byte_level {
namespace {

// Bytes that are printable on their own: '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF.
constexpr bool StandsForItself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

struct Tables {
  std::array<std::string, 256> char_for_byte;
  std::array<char32_t, 256> code_point_for_byte{};
};

const Tables& GetTables() {
  static const Tables tables = [] {
    Tables t;
    char32_t next_substitute = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const char32_t cp = StandsForItself(byte) ? static_cast<char32_t>(byte) : next_substitute++;
      t.code_point_for_byte[byte] = cp;
      utf8::Append(t.char_for_byte[byte], cp);
    }
    return t;
  }();
  return tables;
}

}  // namespace

const std::string& CharForByte(uint8_t byte) { return GetTables().char_for_byte[byte]; }

std::optional<uint8_t> ByteForChar(char32_t cp) {
  if (cp < 0x100) {
    if (StandsForItself(static_cast<int>(cp))) return static_cast<uint8_t>(cp);
    return std::nullopt;
  }
  if (cp >= 0x100 + 68) return std::nullopt;
  const Tables& t = GetTables();
  for (int byte = 0; byte < 256; ++byte) {
    if (t.code_point_for_byte[byte] == cp) return static_cast<uint8_t>(byte);
  }
  return std::nullopt;
}

std::string Encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += CharForByte(static_cast<uint8_t>(c));
  return out;
}

}  // namespace mixserve::model::byte_level
