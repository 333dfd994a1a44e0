// BpeModel: the "model" of a tokenizer.json of type BPE. It maps one pre-tokenized piece to token
// ids by starting from one symbol per character and repeatedly merging the adjacent pair with the
// lowest merge rank (leftmost first among equals), with a priority queue so a piece of n characters
// costs O(n log n). Characters missing from the vocabulary become <0xXX> byte tokens when
// byte_fallback is on, else the unk token (fused when fuse_unk), else they are dropped — as in
// Hugging Face `tokenizers`.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::model {

using TokenId = int32_t;

// Hash for string-keyed maps that can be probed with a string_view without a copy.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, TokenId, StringViewHash, std::equal_to<>>;

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" member; a type other than BPE is an error naming it.
  static Result<BpeModel> FromJson(const nlohmann::json& model);

  // Movable, not copyable: id_to_token_ points into vocab_.
  BpeModel(BpeModel&&) = default;
  BpeModel& operator=(BpeModel&&) = default;
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one piece. Fails only when the piece needs the unk token and the
  // configured unk token is not in the vocabulary.
  // REQUIRES: `piece` is valid UTF-8.
  Status Encode(std::string_view piece, std::vector<TokenId>& ids) const;

  std::optional<TokenId> TokenToId(std::string_view token) const;
  // The vocabulary string of `id`, or nullptr when the model has no such id.
  const std::string* IdToToken(TokenId id) const;
  // Number of vocabulary entries.
  size_t vocab_entries() const { return vocab_.size(); }
  // The largest id in the vocabulary, -1 when it is empty.
  TokenId max_id() const { return max_id_; }
  // The id of the <0xXX> token of `byte`, if the vocabulary has one.
  std::optional<TokenId> ByteFallbackId(uint8_t byte) const;

 private:
  struct Merge {
    uint32_t rank = 0;
    TokenId merged_id = 0;
  };
  static uint64_t PairKey(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  BpeModel() = default;
  const Merge* FindMerge(TokenId left, TokenId right) const;
  // Starts a piece as one symbol per character (or byte / unk fallbacks).
  Status InitialSymbols(std::string_view piece, std::vector<TokenId>& symbols) const;
  // Applies merges to `symbols` in place, lowest rank first.
  void MergeAll(std::vector<TokenId>& symbols) const;

  TokenMap vocab_;
  std::unordered_map<TokenId, const std::string*> id_to_token_;  // points at vocab_'s keys
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<TokenId, 256> byte_ids_{};  // -1 where the vocabulary has no <0xXX> token
  TokenId max_id_ = -1;
  std::optional<std::string> unk_token_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
};

}  // namespace mixserve::model
