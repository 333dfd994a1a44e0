// Tokenizer: a Hugging Face tokenizer.json (the `tokenizers` format) in native code, for the BPE
// families mixserve serves: SentencePiece-style BPE with byte fallback (Mistral, Mixtral, Llama-2)
// and byte-level BPE with a split regex (Llama-3, Qwen).
//
// Encoding follows `tokenizers`: cut the text at added tokens, normalize the stretches between,
// pre-tokenize them into pieces, BPE-encode each piece, then (with add_special_tokens) put the
// special-token template around the ids. Decoding maps ids to vocabulary strings and runs the
// decoder. Unsupported components (a WordPiece model, an unknown pre-tokenizer...) make Load fail
// with a one-line message naming them.
//
// Deliberate differences from `tokenizers`: the "truncation" and "padding" members are ignored, and
// BPE dropout is refused. Unicode data come from PCRE2 (letter and number classes) and ICU
// (normalization), so characters newer than their Unicode versions may split differently.
//
// A loaded Tokenizer is immutable; its const methods may be called from many threads at once.
//
//   auto tok = Tokenizer::Load("/models/mixtral");
//   if (!tok.ok()) return tok.status();
//   auto ids = tok->Encode("Hello", /*add_special_tokens=*/true);
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/added_vocabulary.h"
#include "runtime/model/bpe_model.h"
#include "runtime/model/decoder.h"
#include "runtime/model/normalizer.h"
#include "runtime/model/post_processor.h"
#include "runtime/model/pre_tokenizer.h"

namespace mixserve::model {

class Tokenizer {
 public:
  // `path` is a directory holding tokenizer.json, or a tokenizer.json file. A tokenizer_config.json
  // beside it, when present, supplies add_bos_token / add_eos_token and bos_token / eos_token.
  static Result<Tokenizer> Load(const std::string& path);
  // The same from the files' contents; `tokenizer_config_text` may be empty.
  static Result<Tokenizer> FromJson(std::string_view tokenizer_json_text, std::string_view tokenizer_config_text);

  // Token ids of `text`. With `add_special_tokens`, the special-token template (e.g. BOS) goes
  // around them. Special-token text inside `text` ("<s>") becomes that token either way.
  // Fails on text that is not valid UTF-8.
  Result<std::vector<TokenId>> Encode(std::string_view text, bool add_special_tokens) const;

  // The text of `ids`. Ids the tokenizer does not know are skipped (as `tokenizers` does); with
  // `skip_special_tokens`, special tokens are too. The text is always valid UTF-8.
  Result<std::string> Decode(std::span<const TokenId> ids, bool skip_special_tokens) const;

  // Decode, plus whether the end of the text may still change when more ids follow (the last
  // bytes are an incomplete UTF-8 sequence, or a run of byte-fallback tokens is open). For
  // incremental detokenization.
  struct Decoded {
    std::string text;
    bool unstable_tail = false;
  };
  Result<Decoded> DecodeWithTail(std::span<const TokenId> ids, bool skip_special_tokens) const;

  // Every id the tokenizer produces is in [0, vocab_size()).
  size_t vocab_size() const;
  std::optional<TokenId> TokenToId(std::string_view token) const;
  std::optional<std::string> IdToToken(TokenId id) const;
  // Whether `id` is an added token marked special (dropped by skip_special_tokens).
  bool IsSpecial(TokenId id) const;

  std::optional<TokenId> bos_id() const { return bos_id_; }
  std::optional<TokenId> eos_id() const { return eos_id_; }
  // The ids Encode(..., true) puts before and after the text.
  const SpecialTokenTemplate& special_tokens_template() const { return template_; }

 private:
  explicit Tokenizer(BpeModel model) : model_(std::move(model)) {}
  static Result<Tokenizer> Build(std::string_view tokenizer_json_text, std::string_view tokenizer_config_text);
  Status ApplyConfig(std::string_view tokenizer_config_text);
  // Appends the ids of one stretch of text between added tokens.
  Status EncodeStretch(std::string_view text, bool at_input_start, std::vector<TokenId>& ids) const;

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  BpeModel model_;
  AddedVocabulary added_;
  std::unique_ptr<Decoder> decoder_;
  SpecialTokenTemplate template_;
  std::optional<TokenId> bos_id_;
  std::optional<TokenId> eos_id_;
};

}  // namespace mixserve::model
