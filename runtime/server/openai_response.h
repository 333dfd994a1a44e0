// Response building for the OpenAI API: the JSON objects of /v1/completions and
// /v1/chat/completions, whole and as streaming chunks, from what the engine produced. Pure
// functions of their inputs, so every field's shape is unit-tested without a server.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mixserve::server {

// One sampled token as the client sees it.
struct TokenLogprobInfo {
  std::string text;  // the token's text (may be part of a UTF-8 character)
  float logprob = 0.0f;
  bool no_logprob = false;  // the prompt's first token (echo): logprob and top_logprobs are null
  std::vector<std::pair<std::string, float>> top;  // best first
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// What one choice produced so far (whole responses) or in this increment (chunks).
struct ChoiceOutput {
  int index = 0;
  std::string text;
  std::vector<TokenLogprobInfo> logprobs;  // empty unless the request asked for logprobs
  std::optional<std::string> finish_reason;
};

// Common header of every response object.
struct ResponseHeader {
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string model;
};

nlohmann::json UsageJson(const Usage& usage);

// Completions: logprobs as {tokens, token_logprobs, top_logprobs, text_offset}; offsets count the
// bytes of the tokens' texts from `text_offset_base` (where a stream is).
nlohmann::json CompletionLogprobsJson(const std::vector<TokenLogprobInfo>& tokens, int64_t text_offset_base);
// Chat: logprobs as {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
nlohmann::json ChatLogprobsJson(const std::vector<TokenLogprobInfo>& tokens);

// Whole responses. `with_logprobs`: the request asked for logprobs (else the field is null).
nlohmann::json CompletionResponse(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, bool with_logprobs,
                                  const Usage& usage);
nlohmann::json ChatResponse(const ResponseHeader& h, const std::vector<ChoiceOutput>& choices, bool with_logprobs,
                            const Usage& usage);

// Streaming chunks. `with_usage_field`: stream_options.include_usage was set, so every chunk carries
// "usage": null and the last one the totals.
nlohmann::json CompletionChunk(const ResponseHeader& h, const ChoiceOutput& choice, bool with_logprobs,
                               int64_t text_offset_base, bool with_usage_field);
// `role`: put "role": "assistant" in the delta (the first chunk of each choice).
nlohmann::json ChatChunk(const ResponseHeader& h, const ChoiceOutput& choice, bool role, bool with_logprobs,
                         bool with_usage_field);
// The final usage chunk: no choices, the totals. `object`: "text_completion" or "chat.completion.chunk".
nlohmann::json UsageChunk(const ResponseHeader& h, const std::string& object, const Usage& usage);

// GET /v1/models.
nlohmann::json ModelsResponse(const std::vector<std::string>& names, int64_t created, int64_t max_model_len,
                              const std::string& root);

// "This model's maximum context length is X tokens. However, you requested Y tokens (P in the
// messages, M in the completion). ..." — vLLM's wording, which clients match on.
std::string ContextLengthMessage(int64_t max_model_len, int64_t prompt_tokens, int64_t max_tokens);

}  // namespace mixserve::server
