#include "runtime/model/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/model/json_object.h"
#include "runtime/model/model_dir.h"
#include "runtime/model/tokenizer_json.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

namespace fs = std::filesystem;

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("cannot open " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::Io("cannot read " + path.string());
  return buffer.str();
}

// bos_token / eos_token in tokenizer_config.json: a string, {"content": "..."}, or null.
std::optional<std::string> SpecialTokenText(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return std::nullopt;
}

// Load errors quote the files (token text, patterns), which may hold control characters; keep
// every message on one line.
Status OneLine(const Status& status) {
  const std::string message = MessageSafe(status.message());
  switch (status.code()) {
    case Status::Code::kNotFound:
      return Status::NotFound(message);
    case Status::Code::kIo:
      return Status::Io(message);
    case Status::Code::kInternal:
      return Status::Internal(message);
    default:
      return Status::InvalidArgument(message);
  }
}

std::optional<bool> OptionalBool(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

}  // namespace

Result<Tokenizer> Tokenizer::Load(const std::string& path) {
  std::error_code error;
  fs::path json_path = path;
  if (fs::is_directory(path, error)) json_path = ModelFiles{path}.tokenizer();
  if (!fs::is_regular_file(json_path, error)) return Status::NotFound("no tokenizer.json at " + path);
  auto json_text = ReadFile(json_path);
  if (!json_text.ok()) return json_text.status();
  std::string config_text;
  const fs::path config_path = ModelFiles{json_path.parent_path().string()}.tokenizer_config();
  if (fs::is_regular_file(config_path, error)) {
    auto read = ReadFile(config_path);
    if (!read.ok()) return read.status();
    config_text = std::move(*read);
  }
  auto tokenizer = FromJson(*json_text, config_text);
  if (!tokenizer.ok()) return tokenizer.status().WithContext(json_path.string());
  return tokenizer;
}

Result<Tokenizer> Tokenizer::FromJson(std::string_view tokenizer_json_text, std::string_view tokenizer_config_text) {
  auto tokenizer = Build(tokenizer_json_text, tokenizer_config_text);
  if (!tokenizer.ok()) return OneLine(tokenizer.status());
  return tokenizer;
}

Result<Tokenizer> Tokenizer::Build(std::string_view tokenizer_json_text, std::string_view tokenizer_config_text) {
  try {
    const nlohmann::json spec = nlohmann::json::parse(tokenizer_json_text);
    if (!spec.is_object()) return Status::InvalidArgument("tokenizer.json is not a JSON object");
    static const nlohmann::json kAbsent;
    const auto member = [&](const char* key) -> const nlohmann::json& {
      auto it = spec.find(key);
      return it == spec.end() ? kAbsent : *it;
    };

    // Components parse their Sequence members recursively; real files nest a few levels.
    for (const char* component : {"normalizer", "pre_tokenizer", "decoder", "post_processor"}) {
      if (Status s = tokenizer_json::CheckNesting(member(component), 16, component); !s.ok()) return s;
    }
    auto model = BpeModel::FromJson(member("model"));
    if (!model.ok()) return model.status();
    Tokenizer tokenizer(std::move(*model));

    auto normalizer = ParseNormalizer(member("normalizer"));
    if (!normalizer.ok()) return normalizer.status();
    tokenizer.normalizer_ = std::move(*normalizer);
    auto pre_tokenizer = ParsePreTokenizer(member("pre_tokenizer"));
    if (!pre_tokenizer.ok()) return pre_tokenizer.status();
    tokenizer.pre_tokenizer_ = std::move(*pre_tokenizer);
    auto decoder = ParseDecoder(member("decoder"));
    if (!decoder.ok()) return decoder.status();
    tokenizer.decoder_ = std::move(*decoder);
    auto post = ParsePostProcessor(member("post_processor"));
    if (!post.ok()) return post.status();
    tokenizer.template_ = std::move(*post);
    auto added = AddedVocabulary::FromJson(member("added_tokens"), tokenizer.model_, tokenizer.normalizer_.get());
    if (!added.ok()) return added.status();
    tokenizer.added_ = std::move(*added);

    if (Status s = tokenizer.ApplyConfig(tokenizer_config_text); !s.ok()) return s;
    return tokenizer;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("tokenizer JSON: ") + e.what());
  }
}

Status Tokenizer::ApplyConfig(std::string_view tokenizer_config_text) {
  if (tokenizer_config_text.empty()) return Status::Ok();
  nlohmann::json config = nlohmann::json::parse(tokenizer_config_text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return Status::InvalidArgument("tokenizer_config.json is not a JSON object");
  }
  const std::optional<std::string> bos = SpecialTokenText(config, "bos_token");
  const std::optional<std::string> eos = SpecialTokenText(config, "eos_token");
  if (bos) bos_id_ = TokenToId(*bos);
  if (eos) eos_id_ = TokenToId(*eos);

  // add_bos_token / add_eos_token rebuild the template as transformers' Llama tokenizers do; a flag
  // that is absent keeps what tokenizer.json's post_processor already does at that end.
  const std::optional<bool> add_bos = OptionalBool(config, "add_bos_token");
  const std::optional<bool> add_eos = OptionalBool(config, "add_eos_token");
  if (!add_bos && !add_eos) return Status::Ok();
  const auto starts_with = [](const std::vector<TokenId>& ids, std::optional<TokenId> id) {
    return id && !ids.empty() && ids.front() == *id;
  };
  const auto ends_with = [](const std::vector<TokenId>& ids, std::optional<TokenId> id) {
    return id && !ids.empty() && ids.back() == *id;
  };
  const bool want_bos = add_bos.value_or(starts_with(template_.prefix, bos_id_));
  const bool want_eos = add_eos.value_or(ends_with(template_.suffix, eos_id_));
  if (want_bos && !bos_id_) {
    return Status::InvalidArgument("tokenizer_config.json: add_bos_token is set but bos_token '" + bos.value_or("") +
                                   "' is not a token");
  }
  if (want_eos && !eos_id_) {
    return Status::InvalidArgument("tokenizer_config.json: add_eos_token is set but eos_token '" + eos.value_or("") +
                                   "' is not a token");
  }
  template_ = SpecialTokenTemplate{};
  if (want_bos) template_.prefix.push_back(*bos_id_);
  if (want_eos) template_.suffix.push_back(*eos_id_);
  return Status::Ok();
}

Status Tokenizer::EncodeStretch(std::string_view text, bool at_input_start, std::vector<TokenId>& ids) const {
  std::string normalized(text);
  if (normalizer_) {
    if (Status s = normalizer_->Normalize(normalized); !s.ok()) return s;
  }
  for (const AddedVocabulary::Segment& segment : added_.Split(normalized, /*normalized=*/true)) {
    if (segment.token != nullptr) {
      ids.push_back(segment.token->id);
      continue;
    }
    if (segment.end == segment.begin) continue;
    std::vector<Piece> pieces;
    pieces.push_back(Piece{normalized.substr(segment.begin, segment.end - segment.begin),
                           at_input_start && segment.begin == 0});
    if (pre_tokenizer_) {
      if (Status s = pre_tokenizer_->Split(pieces); !s.ok()) return s;
    }
    for (const Piece& piece : pieces) {
      if (Status s = model_.Encode(piece.text, ids); !s.ok()) return s;
    }
  }
  return Status::Ok();
}

Result<std::vector<TokenId>> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  size_t bad_offset = 0;
  if (!utf8::IsValid(text, &bad_offset)) {
    return Status::InvalidArgument("text is not valid UTF-8 (at byte " + std::to_string(bad_offset) + ")");
  }
  std::vector<TokenId> ids;
  if (add_special_tokens) ids = template_.prefix;
  for (const AddedVocabulary::Segment& segment : added_.Split(text, /*normalized=*/false)) {
    if (segment.token != nullptr) {
      ids.push_back(segment.token->id);
    } else if (segment.end > segment.begin) {
      const std::string_view stretch = text.substr(segment.begin, segment.end - segment.begin);
      if (Status s = EncodeStretch(stretch, segment.begin == 0, ids); !s.ok()) return s;
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), template_.suffix.begin(), template_.suffix.end());
  return ids;
}

Result<Tokenizer::Decoded> Tokenizer::DecodeWithTail(std::span<const TokenId> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const TokenId id : ids) {
    const std::string* text = nullptr;
    if (const AddedToken* added = added_.Find(id)) {
      text = &added->pattern;
    } else {
      text = model_.IdToToken(id);
    }
    if (text == nullptr || (skip_special_tokens && added_.IsSpecialText(*text))) continue;
    tokens.push_back(*text);
  }
  Decoded decoded;
  if (!decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) decoded.text.append(i ? " " : "").append(tokens[i]);
    return decoded;
  }
  if (Status s = decoder_->Decode(tokens, &decoded.unstable_tail); !s.ok()) return s;
  for (const std::string& token : tokens) decoded.text += token;
  return decoded;
}

Result<std::string> Tokenizer::Decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  auto decoded = DecodeWithTail(ids, skip_special_tokens);
  if (!decoded.ok()) return decoded.status();
  return std::move(decoded->text);
}

size_t Tokenizer::vocab_size() const {
  return static_cast<size_t>(std::max(model_.max_id(), added_.max_id()) + 1);
}

std::optional<TokenId> Tokenizer::TokenToId(std::string_view token) const {
  if (const AddedToken* added = added_.FindContent(token)) return added->id;
  return model_.TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(TokenId id) const {
  if (const AddedToken* added = added_.Find(id)) return added->content;
  if (const std::string* text = model_.IdToToken(id)) return *text;
  return std::nullopt;
}

bool Tokenizer::IsSpecial(TokenId id) const {
  const AddedToken* added = added_.Find(id);
  return added != nullptr && added->special;
}

}  // namespace mixserve::model
