#include "runtime/model/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

// Class bodies (without brackets) for the escapes whose meaning Oniguruma and PCRE2 disagree on.
// White_Space:
constexpr std::string_view kSpaceClass =
    R"(\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
// Oniguruma's Unicode \w also counts the Latin-1 superscripts and fractions:
constexpr std::string_view kWordClass = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE})";
// Oniguruma's \h is a hexadecimal digit (PCRE2's is horizontal space):
constexpr std::string_view kHexClass = "0-9A-Fa-f";

std::string DescribePcre2Error(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

Result<std::shared_ptr<pcre2_real_code_8>> CompileWithOptions(std::string_view pattern, uint32_t options,
                                                              std::string_view shown) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options | PCRE2_UTF, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return Status::InvalidArgument("bad regex '" + std::string(shown) + "': " + DescribePcre2Error(error_code) +
                                   " at offset " + std::to_string(error_offset));
  }
  // JIT is only a speed-up; the interpreter gives the same answers when it is unavailable.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::shared_ptr<pcre2_real_code_8>(code, pcre2_code_free);
}

}  // namespace

std::string TranslatePattern(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 64);
  bool in_class = false;
  size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '\\' && i + 1 < in.size()) {
      const char e = in[i + 1];
      if (e == 'Q') {  // \Q...\E is literal text: copy through unchanged
        const size_t end = in.find("\\E", i + 2);
        const size_t stop = end == std::string_view::npos ? in.size() : end + 2;
        out.append(in.substr(i, stop - i));
        i = stop;
        continue;
      }
      std::string_view body;
      if (e == 's' || e == 'S') body = kSpaceClass;
      if (e == 'w' || e == 'W') body = kWordClass;
      if (e == 'h' || e == 'H') body = kHexClass;
      const bool negated = e == 'S' || e == 'W' || e == 'H';
      if (body.empty() || (in_class && negated)) {
        // Other escapes mean the same in both engines. A negated class escape inside a class
        // cannot be spelled out without class subtraction, so it keeps PCRE2's meaning.
        out.append(in.substr(i, 2));
      } else if (in_class) {
        out.append(body);
      } else {
        out.append(negated ? "[^" : "[").append(body).append("]");
      }
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < in.size() && in[i] == '^') out += in[i++];
      if (i < in.size() && in[i] == ']') out += in[i++];  // a leading ']' is a literal
      continue;
    }
    if (in_class && c == '[' && i + 1 < in.size() && in[i + 1] == ':') {  // POSIX [:name:]
      const size_t end = in.find(":]", i + 2);
      const size_t stop = end == std::string_view::npos ? i + 1 : end + 2;
      out.append(in.substr(i, stop - i));
      i = stop;
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
    ++i;
  }
  return out;
}

Result<Regex> Regex::Compile(std::string_view pattern) {
  // Oniguruma's Ruby syntax treats ^ and $ as line anchors.
  auto code = CompileWithOptions(TranslatePattern(pattern), PCRE2_UCP | PCRE2_MULTILINE, pattern);
  if (!code.ok()) return code.status();
  return Regex(std::move(*code));
}

Result<Regex> Regex::Literal(std::string_view text) {
  if (text.empty()) return Regex(nullptr);
  auto code = CompileWithOptions(text, PCRE2_LITERAL, text);
  if (!code.ok()) return code.status();
  return Regex(std::move(*code));
}

Result<std::vector<Regex::Span>> Regex::FindAll(std::string_view text) const {
  std::vector<Span> spans;
  if (!code_) return spans;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
  if (!match) return Status::Internal("out of memory for regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(code_.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return Status::Internal("regex match failed: " + DescribePcre2Error(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const Span span{ovector[0], ovector[1]};
    if (span.begin == span.end) {
      const bool touches_previous = have_previous && previous_end == span.end;
      if (span.end >= text.size()) {
        start = text.size() + 1;
      } else {
        start = span.end;
        utf8::Next(text, start);
      }
      if (touches_previous) continue;
    } else {
      start = span.end;
    }
    spans.push_back(span);
    have_previous = true;
    previous_end = span.end;
  }
  return spans;
}

bool IsWhiteSpace(char32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool IsWordChar(char32_t cp) {
  static const Result<Regex> kWord = Regex::Compile(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])");
  if (!kWord.ok()) return false;
  std::string text;
  utf8::Append(text, cp);
  auto spans = kWord->FindAll(text);
  return spans.ok() && !spans->empty();
}

}  // namespace mixserve::model
