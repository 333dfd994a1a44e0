#include "runtime/model/pre_tokenizer.h"

#include <algorithm>
#include <optional>

#include "runtime/model/byte_level.h"
#include "runtime/model/regex.h"
#include "runtime/model/tokenizer_json.h"

namespace mixserve::model {
namespace {

// What happens to the matches of a Split pattern (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Result<SplitBehavior> ParseBehavior(const std::string& name) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return Status::InvalidArgument("pre_tokenizer Split: unsupported behavior '" + name + "'");
}

struct Segment {
  size_t begin = 0;
  size_t end = 0;
  bool is_match = false;
};

// Splits every piece at the matches of `pattern`, keeping or gluing the matches per `behavior`.
Status SplitPieces(std::vector<Piece>& pieces, const Regex& pattern, SplitBehavior behavior, bool invert) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (Piece& piece : pieces) {
    auto spans = pattern.FindAll(piece.text);
    if (!spans.ok()) return spans.status();
    // Cover the whole piece with alternating non-match / match segments.
    std::vector<Segment> segments;
    size_t covered = 0;
    for (const Regex::Span& span : *spans) {
      if (span.begin > covered) segments.push_back({covered, span.begin, invert});
      segments.push_back({span.begin, span.end, !invert});
      covered = span.end;
    }
    if (covered < piece.text.size()) segments.push_back({covered, piece.text.size(), invert});

    std::vector<Segment> kept;
    bool previous_match = false;
    switch (behavior) {
      case SplitBehavior::kIsolated:
        kept = segments;
        break;
      case SplitBehavior::kRemoved:
        for (const Segment& s : segments) {
          if (!s.is_match) kept.push_back(s);
        }
        break;
      case SplitBehavior::kContiguous:
        for (const Segment& s : segments) {
          if (!kept.empty() && s.is_match == previous_match) {
            kept.back().end = s.end;
          } else {
            kept.push_back(s);
          }
          previous_match = s.is_match;
        }
        break;
      case SplitBehavior::kMergedWithPrevious:
        for (const Segment& s : segments) {
          if (!kept.empty() && s.is_match && !previous_match) {
            kept.back().end = s.end;
          } else {
            kept.push_back(s);
          }
          previous_match = s.is_match;
        }
        break;
      case SplitBehavior::kMergedWithNext:
        for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
          if (!kept.empty() && it->is_match && !previous_match) {
            kept.back().begin = it->begin;
          } else {
            kept.push_back(*it);
          }
          previous_match = it->is_match;
        }
        std::reverse(kept.begin(), kept.end());
        break;
    }
    for (const Segment& s : kept) {
      if (s.end <= s.begin) continue;
      out.push_back(Piece{piece.text.substr(s.begin, s.end - s.begin), piece.at_input_start && s.begin == 0});
    }
  }
  pieces = std::move(out);
  return Status::Ok();
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  Status Split(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) {
      if (Status s = step->Split(pieces); !s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Split: cuts at the matches of a pattern (Llama-3 / Qwen's word regex).
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  Status Split(std::vector<Piece>& pieces) const override { return SplitPieces(pieces, pattern_, behavior_, invert_); }

 private:
  Regex pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// ByteLevel: optional leading space and GPT-2 split, then every byte becomes its alphabet character.
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<Regex> split)
      : add_prefix_space_(add_prefix_space), split_(std::move(split)) {}
  Status Split(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (Piece& piece : pieces) {
        if (piece.text.empty() || piece.text[0] != ' ') piece.text.insert(0, " ");
      }
    }
    if (split_) {
      if (Status s = SplitPieces(pieces, *split_, SplitBehavior::kIsolated, false); !s.ok()) return s;
    }
    for (Piece& piece : pieces) piece.text = byte_level::Encode(piece.text);
    return Status::Ok();
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> split_;
};

// Metaspace: spaces become the replacement character ("▁"), which may also start the text and
// begin each piece.
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, std::optional<Regex> split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(std::move(split)) {}
  Status Split(std::vector<Piece>& pieces) const override {
    for (Piece& piece : pieces) {
      std::string replaced;
      replaced.reserve(piece.text.size());
      for (const char c : piece.text) {
        if (c == ' ') {
          replaced += replacement_;
        } else {
          replaced += c;
        }
      }
      const bool wants_prefix =
          prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_input_start);
      if (wants_prefix && replaced.compare(0, replacement_.size(), replacement_) != 0) {
        replaced.insert(0, replacement_);
      }
      piece.text = std::move(replaced);
    }
    if (!split_) return Status::Ok();
    return SplitPieces(pieces, *split_, SplitBehavior::kMergedWithNext, false);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  std::optional<Regex> split_;
};

Result<std::unique_ptr<PreTokenizer>> ParseByteLevel(const nlohmann::json& spec) {
  auto prefix = tokenizer_json::GetBool(spec, "add_prefix_space", "pre_tokenizer ByteLevel", true);
  if (!prefix.ok()) return prefix.status();
  auto use_regex = tokenizer_json::GetBool(spec, "use_regex", "pre_tokenizer ByteLevel", true);
  if (!use_regex.ok()) return use_regex.status();
  std::optional<Regex> split;
  if (*use_regex) {
    auto compiled = Regex::Compile(byte_level::kGpt2SplitPattern);
    if (!compiled.ok()) return compiled.status();
    split = std::move(*compiled);
  }
  return std::unique_ptr<PreTokenizer>(std::make_unique<ByteLevelPreTokenizer>(*prefix, std::move(split)));
}

Result<std::unique_ptr<PreTokenizer>> ParseMetaspace(const nlohmann::json& spec) {
  const std::string where = "pre_tokenizer Metaspace";
  auto replacement = tokenizer_json::GetChar(spec, "replacement", where);
  if (!replacement.ok()) return replacement.status();
  auto prefix = tokenizer_json::GetBool(spec, "add_prefix_space", where, true);
  if (!prefix.ok()) return prefix.status();
  auto split = tokenizer_json::GetBool(spec, "split", where, true);
  if (!split.ok()) return split.status();
  MetaspacePreTokenizer::Prepend prepend = MetaspacePreTokenizer::Prepend::kAlways;
  if (auto it = spec.find("prepend_scheme"); it != spec.end() && !it->is_null()) {
    const std::string scheme = it->is_string() ? it->get<std::string>() : "";
    if (scheme == "first") {
      prepend = MetaspacePreTokenizer::Prepend::kFirst;
    } else if (scheme == "never") {
      prepend = MetaspacePreTokenizer::Prepend::kNever;
    } else if (scheme != "always") {
      return Status::InvalidArgument(where + ": unsupported prepend_scheme '" + scheme + "'");
    }
  }
  if (!*prefix) prepend = MetaspacePreTokenizer::Prepend::kNever;
  std::optional<Regex> splitter;
  if (*split) {
    auto literal = Regex::Literal(*replacement);
    if (!literal.ok()) return literal.status();
    splitter = std::move(*literal);
  }
  return std::unique_ptr<PreTokenizer>(
      std::make_unique<MetaspacePreTokenizer>(std::move(*replacement), prepend, std::move(splitter)));
}

}  // namespace

Result<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& spec) {
  if (spec.is_null()) return std::unique_ptr<PreTokenizer>();
  const std::string type = tokenizer_json::TypeOf(spec);
  const std::string where = "pre_tokenizer " + type;
  if (type == "Sequence") {
    auto it = spec.find("pretokenizers");
    if (it == spec.end() || !it->is_array()) {
      return Status::InvalidArgument("pre_tokenizer Sequence: 'pretokenizers' must be a list");
    }
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& child : *it) {
      auto step = ParsePreTokenizer(child);
      if (!step.ok()) return step.status();
      if (*step) steps.push_back(std::move(*step));
    }
    return std::unique_ptr<PreTokenizer>(std::make_unique<SequencePreTokenizer>(std::move(steps)));
  }
  if (type == "Split") {
    auto pattern = tokenizer_json::GetPattern(spec, where);
    if (!pattern.ok()) return pattern.status();
    auto behavior_name = tokenizer_json::GetString(spec, "behavior", where);
    if (!behavior_name.ok()) return behavior_name.status();
    auto behavior = ParseBehavior(*behavior_name);
    if (!behavior.ok()) return behavior.status();
    auto invert = tokenizer_json::GetBool(spec, "invert", where, false);
    if (!invert.ok()) return invert.status();
    return std::unique_ptr<PreTokenizer>(std::make_unique<SplitPreTokenizer>(std::move(*pattern), *behavior, *invert));
  }
  if (type == "ByteLevel") return ParseByteLevel(spec);
  if (type == "Metaspace") return ParseMetaspace(spec);
  if (type.empty()) return Status::InvalidArgument("pre_tokenizer without a \"type\"");
  return Status::InvalidArgument("unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace mixserve::model
