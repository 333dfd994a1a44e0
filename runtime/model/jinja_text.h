// Python str behaviour over UTF-8 text, for the chat-template interpreter.
//
// Python strings are sequences of code points, so lengths, indices and slices here count code
// points, not bytes; whitespace is what str.isspace() accepts (NBSP and U+3000 included).
// Case mapping follows the C library's Unicode tables (simple one-to-one mappings).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mixserve::model::jinja::text {

std::u32string Decode(std::string_view utf8);  // malformed bytes become U+FFFD
std::string Encode(std::u32string_view code_points);
std::string Encode(char32_t c);
size_t Length(std::string_view utf8);  // in code points

bool IsSpace(char32_t c);  // str.isspace()
bool IsAlpha(char32_t c);
bool IsDigit(char32_t c);
char32_t ToLower(char32_t c);
char32_t ToUpper(char32_t c);

// str.strip / lstrip / rstrip: `chars` nullopt strips whitespace.
std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
std::string Lower(std::string_view s);
std::string Upper(std::string_view s);
std::string Title(std::string_view s);       // str.title()
std::string Capitalize(std::string_view s);  // str.capitalize()

// str.split(sep, maxsplit) and str.rsplit: `sep` nullopt splits on runs of whitespace.
std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep, long maxsplit,
                               bool from_right);
std::vector<std::string> SplitLines(std::string_view s, bool keep_ends);
// str.replace(old, new, count); count < 0 replaces all.
std::string Replace(std::string_view s, std::string_view old_text, std::string_view new_text, long count);
// str.find: index in code points of the first (or last) occurrence, -1 when absent.
long Find(std::string_view s, std::string_view sub, bool from_right);
long Count(std::string_view s, std::string_view sub);

// Python repr() of a str: quoted, with escapes for quotes, backslashes and unprintable characters.
std::string PyRepr(std::string_view s);
// The JSON string json.dumps writes: quoted; with ensure_ascii, every non-ASCII code point as \uXXXX.
std::string JsonQuote(std::string_view s, bool ensure_ascii);

}  // namespace mixserve::model::jinja::text
