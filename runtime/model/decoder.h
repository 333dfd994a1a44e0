// Decoder: turns the vocabulary strings of decoded ids back into text, as tokenizer.json's
// "decoder" says. Supported types: Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel,
// Metaspace. Any other type is an error naming it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::model {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites `tokens` in place; a decoder may also join several into one. Sets `*unstable_tail`
  // when the end of the text could still change once more tokens follow: the bytes so far end
  // inside a UTF-8 sequence, or in a run of <0xXX> byte tokens that may go on. Never clears it.
  virtual Status Decode(std::vector<std::string>& tokens, bool* unstable_tail) const = 0;
};

// Builds the decoder a tokenizer.json "decoder" member describes; null gives nullptr.
Result<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& spec);

}  // namespace mixserve::model
