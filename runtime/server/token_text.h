// TokenText: the text one token stands for, as logprobs report it ("tokens", "top_logprobs").
// SentencePiece pieces map "▁" to a space and byte-fallback pieces (<0x0A>) to their byte, so a
// choice's tokens concatenate to its text; other tokens are decoded on their own.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/model/tokenizer.h"

namespace mixserve::server {

std::string TokenText(const model::Tokenizer& tokenizer, int32_t id);

}  // namespace mixserve::server
