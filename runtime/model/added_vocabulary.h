// AddedVocabulary: tokenizer.json's "added_tokens" — special tokens such as <s> or <|im_start|> and
// user-added words. Before the normalizer runs, input text is cut at every occurrence of a token with
// normalized=false; the stretches between are normalized and then cut at tokens with normalized=true.
// Occurrences are found leftmost-longest with a byte trie; single_word, lstrip and rstrip behave as
// in Hugging Face `tokenizers`, and so does id assignment (a token already in the model vocabulary
// keeps that id, the others are numbered after the vocabulary in file order).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"
#include "runtime/model/bpe_model.h"
#include "runtime/model/normalizer.h"

namespace mixserve::model {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  // What the token is matched against and decoded from: the normalized content for normalized
  // tokens, the content itself otherwise.
  std::string pattern;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  // A stretch [begin, end) of split text; `token` is the added token it is, or nullptr for text in
  // between.
  struct Segment {
    size_t begin = 0;
    size_t end = 0;
    const AddedToken* token = nullptr;
  };

  AddedVocabulary() = default;
  // `added_tokens` is tokenizer.json's list (null allowed); `normalizer` may be null.
  static Result<AddedVocabulary> FromJson(const nlohmann::json& added_tokens, const BpeModel& model,
                                          const Normalizer* normalizer);

  // Cuts `text` at the tokens whose `normalized` flag equals `normalized`. The segments cover `text`
  // in order; a segment of plain text may be empty.
  // REQUIRES: `text` is valid UTF-8.
  std::vector<Segment> Split(std::string_view text, bool normalized) const;

  const AddedToken* Find(TokenId id) const;
  const AddedToken* FindContent(std::string_view content) const;
  // Whether `token_text` is the content of a special token (what skip_special_tokens drops).
  bool IsSpecialText(std::string_view token_text) const { return special_contents_.find(token_text) != special_contents_.end(); }
  TokenId max_id() const { return max_id_; }

 private:
  // A byte trie over the match patterns of one group (normalized or not).
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token_index = -1;  // into tokens_, for a node that ends a pattern
    };
    std::vector<Node> nodes = {Node{}};
    void Insert(std::string_view pattern, int32_t token_index);
    // The longest pattern starting at text[pos]: {length, token index}, or {0, -1}.
    std::pair<size_t, int32_t> LongestAt(std::string_view text, size_t pos) const;
  };

  std::vector<AddedToken> tokens_;  // one per distinct content, in file order
  std::unordered_map<std::string, size_t, StringViewHash, std::equal_to<>> index_of_content_;
  std::unordered_map<TokenId, size_t> index_of_id_;  // a later token with the same id wins
  Trie raw_trie_;
  Trie normalized_trie_;
  std::unordered_set<std::string, StringViewHash, std::equal_to<>> special_contents_;
  TokenId max_id_ = -1;
};

}  // namespace mixserve::model
