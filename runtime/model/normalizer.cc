#include "runtime/model/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <vector>

#include "runtime/model/regex.h"
#include "runtime/model/tokenizer_json.h"

namespace mixserve::model {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  Status Normalize(std::string& text) const override {
    for (const auto& step : steps_) {
      if (Status s = step->Normalize(text); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

// Puts a fixed string in front of non-empty text (SentencePiece's leading "▁").
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  Status Normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
    return Status::Ok();
  }

 private:
  std::string prefix_;
};

// Replaces every match of a pattern by fixed content (SentencePiece's " " -> "▁").
class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Status Normalize(std::string& text) const override {
    auto spans = pattern_.FindAll(text);
    if (!spans.ok()) return spans.status();
    if (spans->empty()) return Status::Ok();
    std::string out;
    out.reserve(text.size() + spans->size() * content_.size());
    size_t copied = 0;
    for (const Regex::Span& span : *spans) {
      out.append(text, copied, span.begin - copied);
      out.append(content_);
      copied = span.end;
    }
    out.append(text, copied, std::string::npos);
    text = std::move(out);
    return Status::Ok();
  }

 private:
  Regex pattern_;
  std::string content_;
};

// Unicode normalization forms, by ICU.
class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* form) : form_(form) {}
  Status Normalize(std::string& text) const override {
    UErrorCode error = U_ZERO_ERROR;
    if (form_->isNormalizedUTF8(text, error) && U_SUCCESS(error)) return Status::Ok();
    error = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
    form_->normalizeUTF8(0, text, sink, nullptr, error);
    if (U_FAILURE(error)) return Status::Internal(std::string("Unicode normalization failed: ") + u_errorName(error));
    text = std::move(out);
    return Status::Ok();
  }

 private:
  const icu::Normalizer2* form_;  // owned by ICU, lives for the whole process
};

Result<std::unique_ptr<Normalizer>> ParseUnicodeForm(const std::string& type) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* form = nullptr;
  if (type == "NFC") form = icu::Normalizer2::getNFCInstance(error);
  if (type == "NFD") form = icu::Normalizer2::getNFDInstance(error);
  if (type == "NFKC") form = icu::Normalizer2::getNFKCInstance(error);
  if (type == "NFKD") form = icu::Normalizer2::getNFKDInstance(error);
  if (form == nullptr || U_FAILURE(error)) {
    return Status::Internal("normalizer " + type + ": ICU data unavailable (" + u_errorName(error) + ")");
  }
  return std::unique_ptr<Normalizer>(std::make_unique<UnicodeNormalizer>(form));
}

}  // namespace

Result<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& spec) {
  if (spec.is_null()) return std::unique_ptr<Normalizer>();
  const std::string type = tokenizer_json::TypeOf(spec);
  const std::string where = "normalizer " + type;
  if (type == "Sequence") {
    auto it = spec.find("normalizers");
    if (it == spec.end() || !it->is_array()) return Status::InvalidArgument("normalizer Sequence: 'normalizers' must be a list");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& child : *it) {
      auto step = ParseNormalizer(child);
      if (!step.ok()) return step.status();
      if (*step) steps.push_back(std::move(*step));
    }
    return std::unique_ptr<Normalizer>(std::make_unique<SequenceNormalizer>(std::move(steps)));
  }
  if (type == "Prepend") {
    auto prefix = tokenizer_json::GetString(spec, "prepend", where);
    if (!prefix.ok()) return prefix.status();
    return std::unique_ptr<Normalizer>(std::make_unique<PrependNormalizer>(std::move(*prefix)));
  }
  if (type == "Replace") {
    auto pattern = tokenizer_json::GetPattern(spec, where);
    if (!pattern.ok()) return pattern.status();
    auto content = tokenizer_json::GetString(spec, "content", where);
    if (!content.ok()) return content.status();
    return std::unique_ptr<Normalizer>(std::make_unique<ReplaceNormalizer>(std::move(*pattern), std::move(*content)));
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return ParseUnicodeForm(type);
  if (type.empty()) return Status::InvalidArgument("normalizer without a \"type\"");
  return Status::InvalidArgument("unsupported normalizer type '" + type + "'");
}

}  // namespace mixserve::model
