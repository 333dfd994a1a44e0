#include "runtime/model/detokenizer.h"

namespace mixserve::model {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

Result<std::string> IncrementalDetokenizer::Step(TokenId id) {
  ids_.push_back(id);
  return Emit(/*final=*/false);
}

Result<std::string> IncrementalDetokenizer::Finish() { return Emit(/*final=*/true); }

Status IncrementalDetokenizer::ChooseContext() {
  const std::span<const TokenId> all(ids_);
  for (size_t k = boundaries_.size(); k-- > 0;) {
    const size_t start = boundaries_[k];
    auto decoded = tokenizer_->Decode(all.subspan(start, emitted_ids_ - start), skip_special_tokens_);
    if (!decoded.ok()) return decoded.status();
    // Empty context text could leave a start-of-text rule to act on the new text; reach further
    // back. Index 0 is the true start, where those rules apply anyway.
    if (!decoded->empty() || start == 0) {
      context_start_ = start;
      context_text_ = std::move(*decoded);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Result<std::string> IncrementalDetokenizer::Emit(bool final) {
  const std::span<const TokenId> all(ids_);
  auto window = tokenizer_->DecodeWithTail(all.subspan(context_start_), skip_special_tokens_);
  if (!window.ok()) return window.status();
  if (window->unstable_tail && !final) return std::string();

  std::string added;
  if (window->text.compare(0, context_text_.size(), context_text_) == 0) {
    added = window->text.substr(context_text_.size());
  } else {
    // The window disagrees with its own context, which the supported decoders never do; fall back
    // to the text of the whole stream.
    auto whole = tokenizer_->Decode(all, skip_special_tokens_);
    if (!whole.ok()) return whole.status();
    if (whole->compare(0, text_.size(), text_) != 0) {
      return Status::Internal("incremental detokenization lost track of the text already sent");
    }
    added = whole->substr(text_.size());
  }
  if (added.empty() && !final) return added;

  text_ += added;
  if (emitted_ids_ != boundaries_.back()) boundaries_.push_back(emitted_ids_);
  emitted_ids_ = ids_.size();
  if (Status s = ChooseContext(); !s.ok()) return s;
  return added;
}

}  // namespace mixserve::model
