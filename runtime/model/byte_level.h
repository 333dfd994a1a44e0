// The byte-level alphabet of GPT-2 style BPE (Llama-3, Qwen): every byte 0..255 stands for one
// printable Unicode character, so any byte string becomes a text of vocabulary characters and back.
// Printable Latin-1 bytes stand for themselves; the other 68 bytes take U+0100.. in byte order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mixserve::model::byte_level {

// The character (as UTF-8) that stands for `byte`.
const std::string& CharForByte(uint8_t byte);

// The byte that `cp` stands for, if `cp` is one of the 256 alphabet characters.
std::optional<uint8_t> ByteForChar(char32_t cp);

// Every byte of `bytes` replaced by its alphabet character.
std::string Encode(std::string_view bytes);

// The pattern the ByteLevel pre-tokenizer splits with when `use_regex` is set (GPT-2's).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace mixserve::model::byte_level
