// UTF-8 helpers shared by the tokenizer pieces: validation, code point iteration and the lossy
// conversion that turns arbitrary bytes (a byte-level BPE token stream) into valid text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mixserve::model::utf8 {

constexpr char32_t kReplacementChar = 0xFFFD;
// U+FFFD as UTF-8, what ill-formed bytes decode to.
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length in bytes of the well-formed sequence that starts at `text[pos]`, or 0 when the bytes there
// are ill-formed or cut short by the end of `text`.
size_t SequenceLength(std::string_view text, size_t pos);

// True when `text` is well-formed UTF-8; otherwise `*bad_offset` (if given) is the byte offset of
// the first ill-formed sequence.
bool IsValid(std::string_view text, size_t* bad_offset = nullptr);

// Decodes the code point at `pos` and advances `pos` past it.
// REQUIRES: a well-formed sequence starts at `pos`.
char32_t Next(std::string_view text, size_t& pos);

// Appends the UTF-8 encoding of `cp`. REQUIRES: cp is a Unicode scalar value.
void Append(std::string& out, char32_t cp);

// Replaces each maximal ill-formed subsequence of `bytes` by one U+FFFD (the Unicode "substitution of
// maximal subparts" rule, the same as Rust's from_utf8_lossy and Python's errors="replace").
// `*incomplete_tail` (if given) says whether `bytes` ends inside a sequence that more bytes could
// still complete; that tail is then part of the output as one U+FFFD.
std::string ToValidLossy(std::string_view bytes, bool* incomplete_tail = nullptr);

}  // namespace mixserve::model::utf8
