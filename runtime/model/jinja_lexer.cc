#include "runtime/model/jinja_lexer.h"

#include "runtime/model/jinja_text.h"

namespace mixserve::model::jinja {
namespace {

bool IsNameStart(char32_t c) { return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
bool IsNameChar(char32_t c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }
int HexValue(char32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return static_cast<int>((c | 0x20) - 'a' + 10);
  return -1;
}

// Works on code points so that Unicode whitespace counts as jinja2's `\s` does.
class Lexer {
 public:
  explicit Lexer(std::u32string source) : src_(std::move(source)) {}

  Result<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      Status s = LexData();
      if (!s.ok()) return s;
    }
    tokens_.push_back(Token{TokenKind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  bool At(size_t p, std::u32string_view what) const { return src_.compare(p, what.size(), what) == 0; }
  char32_t Peek(size_t p) const { return p < src_.size() ? src_[p] : 0; }
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("template syntax error at line " + std::to_string(line_) + ": " + what);
  }
  void Advance(size_t to) {
    for (; pos_ < to; ++pos_)
      if (src_[pos_] == '\n') ++line_;
  }
  void SkipSpace() {
    size_t p = pos_;
    while (p < src_.size() && text::IsSpace(src_[p])) ++p;
    Advance(p);
  }

  // Emits the text before a tag after the tag's whitespace control has had its say.
  void EmitText(std::u32string text, char32_t sign, bool lstrip_applies, int line) {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && text::IsSpace(text[end - 1])) --end;
      text.resize(end);
    } else if (sign != '+' && lstrip_applies) {
      size_t nl = text.rfind('\n');
      size_t start = nl == std::u32string::npos ? 0 : nl + 1;
      bool only_space = start < text.size();
      for (size_t i = start; i < text.size() && only_space; ++i) only_space = text::IsSpace(text[i]);
      if ((start > 0 || line_starting_) && only_space) text.resize(start);
    }
    if (!text.empty()) tokens_.push_back(Token{TokenKind::kText, text::Encode(text), line});
  }

  // After `%}` / `#}`: `-` eats all whitespace, plain drops one newline (trim_blocks), `+` nothing.
  void AfterBlockEnd(char32_t sign) {
    if (sign == '-') {
      SkipSpace();
    } else if (sign != '+' && Peek(pos_) == '\n') {
      Advance(pos_ + 1);
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  // Matches `{%[-+]? word [-+]?%}` at p (`+%}` only when `plus_end`); returns the position of
  // the closing "%}", or npos.
  size_t MatchTag(size_t p, std::u32string_view word, char32_t* sign_out, bool plus_end) const {
    if (!At(p, U"{%")) return std::u32string::npos;
    p += 2;
    if (Peek(p) == '-' || Peek(p) == '+') *sign_out = src_[p++];
    while (p < src_.size() && text::IsSpace(src_[p])) ++p;
    if (!At(p, word)) return std::u32string::npos;
    p += word.size();
    while (p < src_.size() && text::IsSpace(src_[p])) ++p;
    if (Peek(p) == '-' || (plus_end && Peek(p) == '+')) ++p;
    return At(p, U"%}") ? p : std::u32string::npos;
  }

  Status LexData() {
    size_t tag = pos_;
    while (tag < src_.size()) {
      tag = src_.find('{', tag);
      if (tag == std::u32string::npos) break;
      char32_t next = Peek(tag + 1);
      if (next == '{' || next == '%' || next == '#') break;
      ++tag;
    }
    int text_line = line_;
    if (tag == std::u32string::npos || tag >= src_.size()) {
      EmitText(src_.substr(pos_), 0, false, text_line);
      Advance(src_.size());
      return Status::Ok();
    }
    std::u32string text = src_.substr(pos_, tag - pos_);
    char32_t kind = src_[tag + 1];
    char32_t sign = (Peek(tag + 2) == '-' || Peek(tag + 2) == '+') ? src_[tag + 2] : 0;
    char32_t raw_sign = 0;
    size_t raw_end = MatchTag(tag, U"raw", &raw_sign, false);
    EmitText(std::move(text), sign, kind != '{', text_line);
    Advance(tag + 2 + (sign ? 1 : 0));
    if (raw_end != std::u32string::npos) return LexRaw(raw_end);
    if (kind == '#') return LexComment();
    return LexTag(kind == '{');
  }

  Status LexRaw(size_t open_end_percent) {
    bool strip_after_open = src_[open_end_percent - 1] == '-';
    Advance(open_end_percent + 2);
    if (strip_after_open) SkipSpace();
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    for (size_t p = pos_; p < src_.size(); ++p) {
      char32_t sign = 0;
      size_t end = MatchTag(p, U"endraw", &sign, true);
      if (end == std::u32string::npos) continue;
      EmitText(src_.substr(pos_, p - pos_), sign, true, line_);
      char32_t end_sign = src_[end - 1] == '-' || src_[end - 1] == '+' ? src_[end - 1] : 0;
      Advance(end + 2);
      AfterBlockEnd(end_sign);
      return Status::Ok();
    }
    return Error("missing end of raw directive");
  }

  Status LexComment() {
    int start_line = line_;
    size_t end = src_.find(U"#}", pos_);
    if (end == std::u32string::npos) {
      line_ = start_line;
      return Error("missing end of comment tag");
    }
    char32_t sign = (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) ? src_[end - 1] : 0;
    Advance(end + 2);
    AfterBlockEnd(sign);
    return Status::Ok();
  }

  Status LexTag(bool is_variable) {
    tokens_.push_back(Token{is_variable ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, "", line_});
    std::u32string brackets;
    while (true) {
      SkipSpace();
      if (pos_ >= src_.size()) return Error("unexpected end of template, the tag is not closed");
      if (brackets.empty()) {
        std::u32string_view close = is_variable ? U"}}" : U"%}";
        char32_t c = src_[pos_];
        if ((c == '-' || (c == '+' && !is_variable)) && At(pos_ + 1, close)) {
          tokens_.push_back(Token{is_variable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd, "", line_});
          Advance(pos_ + 3);
          if (is_variable) {
            SkipSpace();
            line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
          } else {
            AfterBlockEnd(c);
          }
          return Status::Ok();
        }
        if (At(pos_, close)) {
          tokens_.push_back(Token{is_variable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd, "", line_});
          Advance(pos_ + 2);
          if (is_variable) {
            line_starting_ = false;
          } else {
            AfterBlockEnd(0);
          }
          return Status::Ok();
        }
      }
      Status s = LexExpressionToken(brackets);
      if (!s.ok()) return s;
    }
  }

  Status LexExpressionToken(std::u32string& brackets) {
    char32_t c = src_[pos_];
    size_t p = pos_;
    if (IsNameStart(c)) {
      while (p < src_.size() && IsNameChar(src_[p])) ++p;
      return Push(TokenKind::kName, src_.substr(pos_, p - pos_), p);
    }
    if (IsDigit(c)) {
      auto digits = [&](size_t q) {
        while (q < src_.size() && (IsDigit(src_[q]) || (src_[q] == '_' && IsDigit(Peek(q + 1))))) ++q;
        return q;
      };
      p = digits(p);
      bool is_float = false;
      bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
      if (!after_dot && Peek(p) == '.' && IsDigit(Peek(p + 1))) {
        p = digits(p + 1);
        is_float = true;
      }
      if (!after_dot && (Peek(p) | 0x20) == 'e') {
        size_t q = p + 1;
        if (Peek(q) == '+' || Peek(q) == '-') ++q;
        if (IsDigit(Peek(q))) {
          p = digits(q);
          is_float = true;
        }
      }
      std::u32string number;
      for (size_t i = pos_; i < p; ++i)
        if (src_[i] != '_') number += src_[i];
      return Push(is_float ? TokenKind::kFloat : TokenKind::kInteger, number, p);
    }
    if (c == '\'' || c == '"') return LexString(c);
    static const std::u32string_view kTwoChar[] = {U"**", U"//", U"==", U"!=", U">=", U"<="};
    for (std::u32string_view op : kTwoChar)
      if (At(p, op)) return Push(TokenKind::kOperator, std::u32string(op), p + 2);
    if (std::u32string_view(U"+-*/%~<>=.,:|()[]{};").find(c) == std::u32string_view::npos) {
      return Error("unexpected char '" + text::Encode(c) + "'");
    }
    if (c == '(' || c == '[' || c == '{') brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) return Error("unexpected '" + text::Encode(c) + "'");
      if (brackets.back() != c) {
        return Error("unexpected '" + text::Encode(c) + "', expected '" + text::Encode(brackets.back()) + "'");
      }
      brackets.pop_back();
    }
    return Push(TokenKind::kOperator, std::u32string(1, c), p + 1);
  }

  Status Push(TokenKind kind, const std::u32string& value, size_t end) {
    tokens_.push_back(Token{kind, text::Encode(value), line_});
    Advance(end);
    return Status::Ok();
  }

  // A quoted literal, unescaped as Python's unicode-escape codec does.
  Status LexString(char32_t quote) {
    std::u32string value;
    size_t p = pos_ + 1;
    for (; p < src_.size() && src_[p] != quote; ++p) {
      if (src_[p] != '\\') {
        value += src_[p];
        continue;
      }
      char32_t e = Peek(++p);
      if (p >= src_.size()) break;
      static const std::u32string_view kSimple = U"\\'\"abfnrtv";
      static const std::u32string_view kMapped = U"\\'\"\a\b\f\n\r\t\v";
      if (size_t k = kSimple.find(e); k != std::u32string_view::npos) {
        value += kMapped[k];
      } else if (e == '\n') {
        continue;
      } else if (e >= '0' && e <= '7') {
        char32_t v = 0;
        for (int n = 0; n < 3 && Peek(p) >= '0' && Peek(p) <= '7'; ++n, ++p) v = v * 8 + (src_[p] - '0');
        --p;
        value += v;
      } else if (e == 'x' || e == 'u' || e == 'U') {
        int width = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        char32_t v = 0;
        for (int n = 0; n < width; ++n) {
          int h = HexValue(Peek(p + 1 + n));
          if (h < 0) return Error("truncated \\" + text::Encode(e) + " escape in a string literal");
          v = v * 16 + static_cast<char32_t>(h);
        }
        p += width;
        value += v;
      } else {
        value += U'\\';
        value += e;
      }
    }
    if (p >= src_.size()) return Error("unterminated string literal");
    return Push(TokenKind::kString, value, p + 1);
  }

  std::u32string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source) {
  std::u32string normalized;
  std::u32string decoded = text::Decode(source);
  normalized.reserve(decoded.size());
  for (size_t i = 0; i < decoded.size(); ++i) {
    if (decoded[i] == '\r') {
      normalized += '\n';
      if (i + 1 < decoded.size() && decoded[i + 1] == '\n') ++i;
    } else {
      normalized += decoded[i];
    }
  }
  if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
  return Lexer(std::move(normalized)).Run();
}

}  // namespace mixserve::model::jinja
