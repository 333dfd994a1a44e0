// Normalizer: the text rewrite tokenizer.json applies before splitting, to each stretch of input
// between added tokens. Supported types: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD (Unicode
// normalization by ICU). Any other type is an error naming it.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"

namespace mixserve::model {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // REQUIRES: `text` is valid UTF-8; it stays valid.
  virtual Status Normalize(std::string& text) const = 0;
};

// Builds the normalizer a tokenizer.json "normalizer" member describes; null gives nullptr.
Result<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& spec);

}  // namespace mixserve::model
