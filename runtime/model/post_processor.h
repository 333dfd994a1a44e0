// The special tokens that encoding with add_special_tokens=true puts around one text, read from
// tokenizer.json's "post_processor" (TemplateProcessing, BertProcessing, RobertaProcessing,
// ByteLevel, Sequence) or built from tokenizer_config.json's add_bos_token / add_eos_token.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"
#include "runtime/model/bpe_model.h"

namespace mixserve::model {

struct SpecialTokenTemplate {
  std::vector<TokenId> prefix;  // ids before the text
  std::vector<TokenId> suffix;  // ids after the text
};

// The template of a "post_processor" member for a single sequence; null gives an empty template.
// Any other processor type is an error naming it.
Result<SpecialTokenTemplate> ParsePostProcessor(const nlohmann::json& spec);

}  // namespace mixserve::model
