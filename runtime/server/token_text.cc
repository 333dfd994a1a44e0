#include "runtime/server/token_text.h"

#include <array>
#include <cstdlib>

namespace mixserve::server {

std::string TokenText(const model::Tokenizer& tokenizer, int32_t id) {
  auto piece = tokenizer.IdToToken(id);
  if (!piece) return "";
  const std::string& p = *piece;
  if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
    std::string hex = p.substr(3, 2);
    char* end = nullptr;
    long byte = std::strtol(hex.c_str(), &end, 16);
    if (end == hex.c_str() + 2) return std::string(1, static_cast<char>(byte));
  }
  static const std::string kMetaspace = "\xE2\x96\x81";  // U+2581
  if (p.find(kMetaspace) != std::string::npos || tokenizer.IsSpecial(id)) {
    std::string out;
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, kMetaspace.size(), kMetaspace) == 0) {
        out += ' ';
        i += kMetaspace.size();
      } else {
        out += p[i++];
      }
    }
    return out;
  }
  std::array<model::TokenId, 1> ids = {id};
  auto decoded = tokenizer.Decode(ids, /*skip_special_tokens=*/false);
  return decoded.ok() ? *decoded : p;
}

}  // namespace mixserve::server
