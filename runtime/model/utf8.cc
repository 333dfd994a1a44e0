#include "runtime/model/utf8.h"

namespace mixserve::model::utf8 {
namespace {

// How far a well-formed prefix reaches from `pos`: `prefix_bytes` bytes are a valid start of a
// sequence of `sequence_bytes` bytes (equal when the sequence is complete). `prefix_bytes` is 0 for
// a byte that can never start a sequence.
struct Prefix {
  size_t prefix_bytes = 0;
  size_t sequence_bytes = 0;
};

Prefix ScanSequence(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {1, 1};
  size_t sequence_bytes = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    sequence_bytes = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    sequence_bytes = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    sequence_bytes = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return {0, 0};
  }
  size_t have = 1;
  while (have < sequence_bytes && pos + have < text.size()) {
    const unsigned char c = byte(pos + have);
    const unsigned char lo = have == 1 ? second_min : 0x80;
    const unsigned char hi = have == 1 ? second_max : 0xBF;
    if (c < lo || c > hi) break;
    ++have;
  }
  return {have, sequence_bytes};
}

}  // namespace

size_t SequenceLength(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  const Prefix p = ScanSequence(text, pos);
  return p.prefix_bytes != 0 && p.prefix_bytes == p.sequence_bytes ? p.prefix_bytes : 0;
}

bool IsValid(std::string_view text, size_t* bad_offset) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII runs dominate real text; skip them without the full scan.
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t n = SequenceLength(text, pos);
    if (n == 0) {
      if (bad_offset) *bad_offset = pos;
      return false;
    }
    pos += n;
  }
  return true;
}

char32_t Next(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
  const char32_t lead = byte(pos);
  if (lead < 0x80) {
    pos += 1;
    return lead;
  }
  if (lead < 0xE0) {
    const char32_t cp = ((lead & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
    pos += 2;
    return cp;
  }
  if (lead < 0xF0) {
    const char32_t cp = ((lead & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
    pos += 3;
    return cp;
  }
  const char32_t cp = ((lead & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) |
                      (byte(pos + 3) & 0x3F);
  pos += 4;
  return cp;
}

void Append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string ToValidLossy(std::string_view bytes, bool* incomplete_tail) {
  std::string out;
  out.reserve(bytes.size());
  bool tail = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Prefix p = ScanSequence(bytes, pos);
    if (p.prefix_bytes != 0 && p.prefix_bytes == p.sequence_bytes) {
      out.append(bytes.substr(pos, p.prefix_bytes));
      pos += p.prefix_bytes;
      continue;
    }
    out.append(kReplacement);
    const size_t skip = p.prefix_bytes == 0 ? 1 : p.prefix_bytes;
    tail = p.prefix_bytes != 0 && pos + skip == bytes.size();
    pos += skip;
  }
  if (incomplete_tail) *incomplete_tail = tail;
  return out;
}

}  // namespace mixserve::model::utf8
