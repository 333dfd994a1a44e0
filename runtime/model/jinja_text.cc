#include "runtime/model/jinja_text.h"

#include "runtime/model/utf8.h"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cstdio>

namespace mixserve::model::jinja::text {
namespace {

// The C library's Unicode character tables; without a UTF-8 locale only ASCII is classified.
locale_t UnicodeLocale() {
  static locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (l == static_cast<locale_t>(0)) l = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", static_cast<locale_t>(0));
    return l;
  }();
  return loc;
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// str.isprintable(): false for control, format, separator (other than ' '), surrogate and
// private-use code points. Unassigned code points are not known here and count as printable.
bool IsPrintable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x600) return true;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E || c == 0x1680) return false;
  if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F)) return false;
  if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // surrogates and the private use area
  if (c >= 0xE0000) return false;                // tags and the supplementary private use areas
  return true;
}

void AppendEscape(std::string& out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

bool InChars(char32_t c, const std::optional<std::u32string>& chars) {
  return chars ? chars->find(c) != std::u32string::npos : IsSpace(c);
}

}  // namespace

std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 4;
    bool ok = extra < 4 && i + extra < s.size();
    char32_t cp = extra == 0 ? c : c & (0x7F >> (extra + 1));
    for (size_t k = 1; ok && k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      ok = IsContinuation(cc);
      cp = (cp << 6) | (cc & 0x3F);
    }
    out.push_back(ok ? cp : 0xFFFD);
    i += ok ? extra + 1 : 1;
  }
  return out;
}

std::string Encode(char32_t c) {
  std::string out;
  utf8::Append(out, c);
  return out;
}

std::string Encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) out += Encode(c);
  return out;
}

size_t Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += IsContinuation(static_cast<unsigned char>(c)) ? 0 : 1;
  return n;
}

bool IsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool IsAlpha(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  locale_t loc = UnicodeLocale();
  return loc != static_cast<locale_t>(0) && iswalpha_l(static_cast<wint_t>(c), loc);
}

bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }

char32_t ToLower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  locale_t loc = UnicodeLocale();
  return loc == static_cast<locale_t>(0) ? c : static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc));
}

char32_t ToUpper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  locale_t loc = UnicodeLocale();
  return loc == static_cast<locale_t>(0) ? c : static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), loc));
}

std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  std::u32string u = Decode(s);
  std::optional<std::u32string> set;
  if (chars) set = Decode(*chars);
  size_t begin = 0, end = u.size();
  if (left)
    while (begin < end && InChars(u[begin], set)) ++begin;
  if (right)
    while (end > begin && InChars(u[end - 1], set)) --end;
  return Encode(std::u32string_view(u).substr(begin, end - begin));
}

std::string Lower(std::string_view s) {
  std::u32string u = Decode(s);
  for (char32_t& c : u) c = ToLower(c);
  return Encode(u);
}

std::string Upper(std::string_view s) {
  std::u32string u = Decode(s);
  for (char32_t& c : u) c = ToUpper(c);
  return Encode(u);
}

std::string Title(std::string_view s) {
  std::u32string u = Decode(s);
  bool previous_cased = false;
  for (char32_t& c : u) {
    bool cased = IsAlpha(c);
    c = cased ? (previous_cased ? ToLower(c) : ToUpper(c)) : c;
    previous_cased = cased;
  }
  return Encode(u);
}

std::string Capitalize(std::string_view s) {
  std::u32string u = Decode(s);
  for (size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? ToUpper(u[i]) : ToLower(u[i]);
  return Encode(u);
}

std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep, long maxsplit,
                               bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit != 0) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
        --maxsplit;
      }
      parts.emplace_back(s.substr(pos));
    } else {
      size_t end = s.size();
      while (maxsplit != 0 && end >= sep->size()) {
        size_t hit = s.rfind(*sep, end - sep->size());
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
        end = hit;
        --maxsplit;
      }
      parts.emplace_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return parts;
  }
  std::u32string u = Decode(s);
  if (from_right) std::reverse(u.begin(), u.end());
  size_t i = 0, n = u.size();
  while (i < n && IsSpace(u[i])) ++i;
  while (i < n) {
    if (maxsplit == 0) {
      size_t end = n;
      while (end > i && IsSpace(u[end - 1])) --end;
      parts.push_back(Encode(std::u32string_view(u).substr(i, end - i)));
      break;
    }
    size_t j = i;
    while (j < n && !IsSpace(u[j])) ++j;
    parts.push_back(Encode(std::u32string_view(u).substr(i, j - i)));
    --maxsplit;
    i = j;
    while (i < n && IsSpace(u[i])) ++i;
  }
  if (from_right) {
    std::reverse(parts.begin(), parts.end());
    for (std::string& p : parts) {
      std::u32string r = Decode(p);
      std::reverse(r.begin(), r.end());
      p = Encode(r);
    }
  }
  return parts;
}

std::vector<std::string> SplitLines(std::string_view s, bool keep_ends) {
  std::u32string u = Decode(s);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    bool is_break = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                    c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!is_break) continue;
    size_t end = i + 1;
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') end = i + 2;
    lines.push_back(Encode(std::u32string_view(u).substr(start, (keep_ends ? end : i) - start)));
    start = end;
    i = end - 1;
  }
  if (start < u.size()) lines.push_back(Encode(std::u32string_view(u).substr(start)));
  return lines;
}

std::string Replace(std::string_view s, std::string_view old_text, std::string_view new_text, long count) {
  std::string out;
  if (old_text.empty()) {
    std::u32string u = Decode(s);
    for (size_t i = 0; i <= u.size(); ++i) {
      if (count < 0 || static_cast<long>(i) < count) out += new_text;
      if (i < u.size()) out += Encode(u[i]);
    }
    return out;
  }
  size_t pos = 0;
  while (count != 0) {
    size_t hit = s.find(old_text, pos);
    if (hit == std::string_view::npos) break;
    out += s.substr(pos, hit - pos);
    out += new_text;
    pos = hit + old_text.size();
    --count;
  }
  out += s.substr(pos);
  return out;
}

long Find(std::string_view s, std::string_view sub, bool from_right) {
  size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  return hit == std::string_view::npos ? -1 : static_cast<long>(Length(s.substr(0, hit)));
}

long Count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<long>(Length(s)) + 1;
  long n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

std::string PyRepr(std::string_view s) {
  char quote = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : Decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (IsPrintable(c)) {
      out += Encode(c);
    } else if (c <= 0xFF) {
      AppendEscape(out, "\\x%02x", c);
    } else if (c <= 0xFFFF) {
      AppendEscape(out, "\\u%04x", c);
    } else {
      AppendEscape(out, "\\U%08x", c);
    }
  }
  out += quote;
  return out;
}

std::string JsonQuote(std::string_view s, bool ensure_ascii) {
  std::string out = "\"";
  for (char32_t c : Decode(s)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
          if (c > 0xFFFF) {  // a surrogate pair, as json.dumps writes it
            char32_t v = c - 0x10000;
            AppendEscape(out, "\\u%04x", 0xD800 + (v >> 10));
            AppendEscape(out, "\\u%04x", 0xDC00 + (v & 0x3FF));
          } else {
            AppendEscape(out, "\\u%04x", c);
          }
        } else {
          out += Encode(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace mixserve::model::jinja::text
