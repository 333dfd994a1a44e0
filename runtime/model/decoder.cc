#include "runtime/model/decoder.h"

#include <optional>

#include "runtime/model/byte_level.h"
#include "runtime/model/regex.h"
#include "runtime/model/tokenizer_json.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

std::vector<char32_t> CodePoints(std::string_view text) {
  std::vector<char32_t> out;
  size_t pos = 0;
  while (pos < text.size()) out.push_back(utf8::Next(text, pos));
  return out;
}

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  Status Decode(std::vector<std::string>& tokens, bool* unstable_tail) const override {
    for (const auto& step : steps_) {
      if (Status s = step->Decode(tokens, unstable_tail); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Replace: rewrites every match of a pattern inside each token ("▁" -> " ").
class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Status Decode(std::vector<std::string>& tokens, bool*) const override {
    for (std::string& token : tokens) {
      auto spans = pattern_.FindAll(token);
      if (!spans.ok()) return spans.status();
      if (spans->empty()) continue;
      std::string out;
      size_t copied = 0;
      for (const Regex::Span& span : *spans) {
        out.append(token, copied, span.begin - copied).append(content_);
        copied = span.end;
      }
      token = out.append(token, copied, std::string::npos);
    }
    return Status::Ok();
  }

 private:
  Regex pattern_;
  std::string content_;
};

// The byte a SentencePiece byte token "<0xXX>" stands for.
std::optional<uint8_t> ByteOfToken(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
  int value = 0;
  // Rust's u8::from_str_radix, which `tokenizers` uses here, also accepts a leading '+'.
  const size_t first = token[3] == '+' ? 4 : 3;
  for (size_t i = first; i < 5; ++i) {
    const char c = token[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (digit < 0) return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

// ByteFallback: runs of <0xXX> tokens become the text their bytes spell, or one U+FFFD per byte
// when those bytes are not valid UTF-8.
class ByteFallbackDecoder : public Decoder {
 public:
  Status Decode(std::vector<std::string>& tokens, bool* unstable_tail) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    size_t run_tokens = 0;
    const auto flush = [&] {
      if (run_tokens == 0) return;
      if (utf8::IsValid(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run_tokens; ++i) out.emplace_back(utf8::kReplacement);
      }
      run.clear();
      run_tokens = 0;
    };
    for (std::string& token : tokens) {
      if (auto byte = ByteOfToken(token)) {
        run += static_cast<char>(*byte);
        ++run_tokens;
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    if (run_tokens > 0 && unstable_tail) *unstable_tail = true;
    flush();
    tokens = std::move(out);
    return Status::Ok();
  }
};

class FuseDecoder : public Decoder {
 public:
  Status Decode(std::vector<std::string>& tokens, bool*) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
    return Status::Ok();
  }
};

// Strip: removes up to `start` leading and `stop` trailing copies of one character from each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  Status Decode(std::vector<std::string>& tokens, bool*) const override {
    for (std::string& token : tokens) {
      const std::vector<char32_t> chars = CodePoints(token);
      size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin] == content_) ++begin;
      size_t end = chars.size();
      for (size_t i = 0; i < stop_ && end > begin && chars[end - 1] == content_; ++i) --end;
      std::string out;
      for (size_t i = begin; i < end; ++i) utf8::Append(out, chars[i]);
      token = std::move(out);
    }
    return Status::Ok();
  }

 private:
  char32_t content_;
  size_t start_;
  size_t stop_;
};

// ByteLevel: maps alphabet characters back to bytes across all tokens, then makes the bytes valid
// UTF-8. A token with a character outside the alphabet contributes its own UTF-8 bytes.
class ByteLevelDecoder : public Decoder {
 public:
  Status Decode(std::vector<std::string>& tokens, bool* unstable_tail) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      const size_t mark = bytes.size();
      size_t pos = 0;
      bool in_alphabet = true;
      while (pos < token.size() && in_alphabet) {
        auto byte = byte_level::ByteForChar(utf8::Next(token, pos));
        if (byte) bytes += static_cast<char>(*byte);
        in_alphabet = byte.has_value();
      }
      if (!in_alphabet) bytes.replace(mark, std::string::npos, token);
    }
    bool incomplete = false;
    tokens.assign(1, utf8::ToValidLossy(bytes, &incomplete));
    if (incomplete && unstable_tail) *unstable_tail = true;
    return Status::Ok();
  }
};

// Metaspace: the replacement character becomes a space, except in the first token, where it is
// dropped unless prepend_scheme is "never".
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool drops_first) : replacement_(replacement), drops_first_(drops_first) {}
  Status Decode(std::vector<std::string>& tokens, bool*) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (const char32_t c : CodePoints(tokens[i])) {
        if (c != replacement_) {
          utf8::Append(out, c);
        } else if (i != 0 || !drops_first_) {
          out += ' ';
        }
      }
      tokens[i] = std::move(out);
    }
    return Status::Ok();
  }

 private:
  char32_t replacement_;
  bool drops_first_;
};

char32_t SingleCodePoint(const std::string& text) {
  size_t pos = 0;
  return utf8::Next(text, pos);
}

Result<std::unique_ptr<Decoder>> ParseStrip(const nlohmann::json& spec) {
  auto content = tokenizer_json::GetChar(spec, "content", "decoder Strip");
  if (!content.ok()) return content.status();
  auto start = tokenizer_json::GetCount(spec, "start", "decoder Strip", 0);
  if (!start.ok()) return start.status();
  auto stop = tokenizer_json::GetCount(spec, "stop", "decoder Strip", 0);
  if (!stop.ok()) return stop.status();
  return std::unique_ptr<Decoder>(std::make_unique<StripDecoder>(SingleCodePoint(*content), *start, *stop));
}

Result<std::unique_ptr<Decoder>> ParseMetaspace(const nlohmann::json& spec) {
  auto replacement = tokenizer_json::GetChar(spec, "replacement", "decoder Metaspace");
  if (!replacement.ok()) return replacement.status();
  auto prefix = tokenizer_json::GetBool(spec, "add_prefix_space", "decoder Metaspace", true);
  if (!prefix.ok()) return prefix.status();
  bool drops_first = *prefix;
  if (auto it = spec.find("prepend_scheme"); it != spec.end() && it->is_string()) {
    drops_first = drops_first && it->get<std::string>() != "never";
  }
  return std::unique_ptr<Decoder>(std::make_unique<MetaspaceDecoder>(SingleCodePoint(*replacement), drops_first));
}

}  // namespace

Result<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& spec) {
  if (spec.is_null()) return std::unique_ptr<Decoder>();
  const std::string type = tokenizer_json::TypeOf(spec);
  if (type == "Sequence") {
    auto it = spec.find("decoders");
    if (it == spec.end() || !it->is_array()) return Status::InvalidArgument("decoder Sequence: 'decoders' must be a list");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const auto& child : *it) {
      auto step = ParseDecoder(child);
      if (!step.ok()) return step.status();
      if (*step) steps.push_back(std::move(*step));
    }
    return std::unique_ptr<Decoder>(std::make_unique<SequenceDecoder>(std::move(steps)));
  }
  if (type == "Replace") {
    auto pattern = tokenizer_json::GetPattern(spec, "decoder Replace");
    if (!pattern.ok()) return pattern.status();
    auto content = tokenizer_json::GetString(spec, "content", "decoder Replace");
    if (!content.ok()) return content.status();
    return std::unique_ptr<Decoder>(std::make_unique<ReplaceDecoder>(std::move(*pattern), std::move(*content)));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(std::make_unique<ByteFallbackDecoder>());
  if (type == "Fuse") return std::unique_ptr<Decoder>(std::make_unique<FuseDecoder>());
  if (type == "Strip") return ParseStrip(spec);
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(std::make_unique<ByteLevelDecoder>());
  if (type == "Metaspace") return ParseMetaspace(spec);
  if (type.empty()) return Status::InvalidArgument("decoder without a \"type\"");
  return Status::InvalidArgument("unsupported decoder type '" + type + "'");
}

}  // namespace mixserve::model
