// PreTokenizer: splits normalized text into the pieces the BPE model encodes one at a time, and may
// rewrite them (byte-level alphabet, metaspace). Supported types: Sequence, Split (regex or literal
// pattern, every split behavior, invert), ByteLevel, Metaspace. Any other type is an error naming it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::model {

// One stretch of text on its way to the model.
struct Piece {
  std::string text;
  // True when the piece begins where the whole input began (Metaspace's prepend_scheme "first").
  bool at_input_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their splits, in order; empty pieces are dropped.
  // REQUIRES: every piece is valid UTF-8.
  virtual Status Split(std::vector<Piece>& pieces) const = 0;
};

// Builds the pre-tokenizer a tokenizer.json "pre_tokenizer" member describes; null gives nullptr.
Result<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& spec);

}  // namespace mixserve::model
