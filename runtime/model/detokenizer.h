// IncrementalDetokenizer: text for a stream of generated token ids, one id at a time, for
// streaming responses. Concatenating every piece Step returns plus what Finish returns gives exactly
// Tokenizer::Decode of all the ids.
//
// Each step decodes a short window: a few already-emitted ids for context, then the new ones, and
// emits what the window's text adds beyond the context's text. The context keeps decoders'
// start-of-text rules (SentencePiece's leading-space Strip, Metaspace's first token) from touching
// the new text: it begins where an earlier piece ended and reaches back until its text is not
// empty. Text is held back while its end may still change: an incomplete UTF-8 sequence, or a run
// of <0xXX> byte-fallback tokens that a later byte could turn into U+FFFD (so a byte-fallback
// character appears one token late, or at Finish).
//
//   IncrementalDetokenizer stream(tokenizer, /*skip_special_tokens=*/true);
//   for (TokenId id : generated) send(*stream.Step(id));
//   send(*stream.Finish());
#pragma once

#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/model/tokenizer.h"

namespace mixserve::model {

class IncrementalDetokenizer {
 public:
  // REQUIRES: `tokenizer` outlives this object.
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Adds one id and returns the text it completes, often empty.
  Result<std::string> Step(TokenId id);
  // Ends the stream and returns the text held back. REQUIRES: no Step after Finish.
  Result<std::string> Finish();

  const std::vector<TokenId>& ids() const { return ids_; }
  // Everything returned so far.
  const std::string& text() const { return text_; }

 private:
  Result<std::string> Emit(bool final);
  // Picks the context window's start for the ids before emitted_ids_ and decodes it.
  Status ChooseContext();

  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::vector<TokenId> ids_;
  size_t emitted_ids_ = 0;            // the text of ids_[0, emitted_ids_) is all in text_
  std::vector<size_t> boundaries_{0};  // earlier values of emitted_ids_, ascending
  size_t context_start_ = 0;          // the window is ids_[context_start_, end)
  std::string context_text_;          // the text of ids_[context_start_, emitted_ids_)
  std::string text_;
};

}  // namespace mixserve::model
