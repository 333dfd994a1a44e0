#include "runtime/model/added_vocabulary.h"

#include <algorithm>
#include <limits>

#include "runtime/model/regex.h"
#include "runtime/model/tokenizer_json.h"
#include "runtime/model/utf8.h"

namespace mixserve::model {
namespace {

// The code point that ends text[0, end), for checks on what precedes a match.
char32_t CharBefore(std::string_view text, size_t end) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  return utf8::Next(text, begin);
}

// Where the run of white space that ends at `end` begins.
size_t WhiteSpaceRunStart(std::string_view text, size_t end) {
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
    size_t probe = begin;
    if (!IsWhiteSpace(utf8::Next(text, probe))) break;
    end = begin;
  }
  return end;
}

// Where the run of white space that starts at `begin` ends.
size_t WhiteSpaceRunEnd(std::string_view text, size_t begin) {
  while (begin < text.size()) {
    size_t next = begin;
    if (!IsWhiteSpace(utf8::Next(text, next))) break;
    begin = next;
  }
  return begin;
}

Result<AddedToken> ParseAddedToken(const nlohmann::json& entry, size_t index) {
  const std::string where = "added_tokens[" + std::to_string(index) + "]";
  AddedToken token;
  auto content = tokenizer_json::GetString(entry, "content", where);
  if (!content.ok()) return content.status();
  token.content = std::move(*content);
  struct Flag {
    const char* key;
    bool* target;
    bool fallback;
  };
  for (const Flag& flag : {Flag{"single_word", &token.single_word, false}, Flag{"lstrip", &token.lstrip, false},
                           Flag{"rstrip", &token.rstrip, false}, Flag{"normalized", &token.normalized, true},
                           Flag{"special", &token.special, false}}) {
    auto value = tokenizer_json::GetBool(entry, flag.key, where, flag.fallback);
    if (!value.ok()) return value.status();
    *flag.target = *value;
  }
  return token;
}

}  // namespace

void AddedVocabulary::Trie::Insert(std::string_view pattern, int32_t token_index) {
  size_t node = 0;
  for (const char c : pattern) {
    const auto byte = static_cast<unsigned char>(c);
    auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [&](const auto& child) { return child.first == byte; });
    if (it != children.end()) {
      node = static_cast<size_t>(it->second);
      continue;
    }
    children.emplace_back(byte, static_cast<int32_t>(nodes.size()));
    node = nodes.size();
    nodes.emplace_back();
  }
  nodes[node].token_index = token_index;
}

std::pair<size_t, int32_t> AddedVocabulary::Trie::LongestAt(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  size_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes[node].children;
    auto it = std::find_if(children.begin(), children.end(), [&](const auto& child) { return child.first == byte; });
    if (it == children.end()) break;
    node = static_cast<size_t>(it->second);
    if (nodes[node].token_index >= 0) best = {i + 1 - pos, nodes[node].token_index};
  }
  return best;
}

Result<AddedVocabulary> AddedVocabulary::FromJson(const nlohmann::json& added_tokens, const BpeModel& model,
                                                  const Normalizer* normalizer) {
  AddedVocabulary vocab;
  if (added_tokens.is_null()) return vocab;
  if (!added_tokens.is_array()) return Status::InvalidArgument("tokenizer.json: 'added_tokens' must be a list");
  // Ids for tokens the model lacks continue after the model's vocabulary, in file order.
  auto next_id = static_cast<int64_t>(model.vocab_entries());
  for (size_t i = 0; i < added_tokens.size(); ++i) {
    auto token = ParseAddedToken(added_tokens[i], i);
    if (!token.ok()) return token.status();
    if (token->content.empty()) continue;
    if (const AddedToken* existing = vocab.FindContent(token->content)) {
      token->id = existing->id;
    } else if (auto model_id = model.TokenToId(token->content)) {
      token->id = *model_id;
    } else {
      if (next_id > std::numeric_limits<TokenId>::max()) return Status::InvalidArgument("added_tokens: too many tokens");
      token->id = static_cast<TokenId>(next_id++);
    }
    token->pattern = token->content;
    if (token->normalized && normalizer != nullptr) {
      if (Status s = normalizer->Normalize(token->pattern); !s.ok()) return s.WithContext("added token '" + token->content + "'");
    }
    // A repeated content replaces the earlier entry, keeping its id.
    if (auto same = vocab.index_of_content_.find(token->content); same != vocab.index_of_content_.end()) {
      vocab.tokens_[same->second] = std::move(*token);
    } else {
      vocab.index_of_content_.emplace(token->content, vocab.tokens_.size());
      vocab.tokens_.push_back(std::move(*token));
    }
  }
  for (size_t i = 0; i < vocab.tokens_.size(); ++i) {
    const AddedToken& token = vocab.tokens_[i];
    vocab.index_of_id_[token.id] = i;
    if (token.special) vocab.special_contents_.insert(token.content);
    vocab.max_id_ = std::max(vocab.max_id_, token.id);
    if (token.pattern.empty()) continue;
    (token.normalized ? vocab.normalized_trie_ : vocab.raw_trie_).Insert(token.pattern, static_cast<int32_t>(i));
  }
  return vocab;
}

const AddedToken* AddedVocabulary::Find(TokenId id) const {
  auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::FindContent(std::string_view content) const {
  auto it = index_of_content_.find(content);
  return it == index_of_content_.end() ? nullptr : &tokens_[it->second];
}

std::vector<AddedVocabulary::Segment> AddedVocabulary::Split(std::string_view text, bool normalized) const {
  const Trie& trie = normalized ? normalized_trie_ : raw_trie_;
  if (trie.nodes[0].children.empty()) return {Segment{0, text.size(), nullptr}};
  std::vector<Segment> segments;
  size_t covered = 0;  // text before this is already in `segments`
  size_t pos = 0;
  while (pos < text.size()) {
    const auto [length, index] = trie.LongestAt(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[static_cast<size_t>(index)];
    size_t begin = pos;
    size_t end = pos + length;
    pos = end;  // a rejected match still consumes its text, as the matcher moves on past it
    if (token.single_word) {
      const bool word_before = begin > 0 && IsWordChar(CharBefore(text, begin));
      size_t after = end;
      const bool word_after = end < text.size() && IsWordChar(utf8::Next(text, after));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) begin = std::max(WhiteSpaceRunStart(text, begin), covered);
    if (token.rstrip) end = WhiteSpaceRunEnd(text, end);
    if (covered < begin) segments.push_back({covered, begin, nullptr});
    segments.push_back({begin, end, &token});
    covered = end;
    pos = end;
  }
  if (covered < text.size() || segments.empty()) segments.push_back({covered, text.size(), nullptr});
  return segments;
}

}  // namespace mixserve::model
