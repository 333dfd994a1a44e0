// Regex: the patterns that tokenizer.json files carry (pre-tokenizer splits, normalizer and decoder
// replacements), compiled with PCRE2 in UTF-8 mode with Unicode character classes.
//
// Hugging Face `tokenizers` runs these patterns with Oniguruma. The two engines agree on the syntax
// those files use; where they differ in meaning we translate: Oniguruma's `\s` is the Unicode
// White_Space property, PCRE2's also matches U+180E, so `\s` and `\S` are spelled out as explicit
// classes (see TranslatePattern). Character properties follow the Unicode version PCRE2 was built
// with (10.42: Unicode 14), so letters assigned later are not letters here.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"

struct pcre2_real_code_8;

namespace mixserve::model {

class Regex {
 public:
  // A byte range [begin, end) of the subject.
  struct Span {
    size_t begin = 0;
    size_t end = 0;
  };

  // Compiles an Oniguruma-syntax pattern; a bad pattern is an error naming it.
  static Result<Regex> Compile(std::string_view pattern);
  // A pattern matching `text` literally. An empty `text` matches nothing (as in `tokenizers`).
  static Result<Regex> Literal(std::string_view text);

  // Successive non-overlapping matches from the left. An empty match right after the previous match
  // is skipped, and the search resumes one character after an empty match.
  // REQUIRES: `text` is valid UTF-8 (checked by the caller once, not on every match).
  Result<std::vector<Span>> FindAll(std::string_view text) const;

 private:
  explicit Regex(std::shared_ptr<pcre2_real_code_8> code) : code_(std::move(code)) {}
  std::shared_ptr<pcre2_real_code_8> code_;  // null: matches nothing
};

// Rewrites `\s` and `\S` (outside and inside character classes) to explicit White_Space classes.
std::string TranslatePattern(std::string_view onig_pattern);

// The Unicode White_Space property (what `char::is_whitespace` and Oniguruma's `\s` test).
bool IsWhiteSpace(char32_t cp);

// A word character as Rust's Unicode `\w` sees it: Alphabetic, Mark, Decimal_Number,
// Connector_Punctuation or Join_Control. Used by single_word added tokens.
bool IsWordChar(char32_t cp);

}  // namespace mixserve::model
