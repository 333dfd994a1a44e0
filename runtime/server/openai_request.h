// Request parsing for the OpenAI API: a request body (JSON text) in, a validated request or the
// OpenAI-shaped error a client should get out. Pure functions: no model, no engine, no HTTP, so
// they are unit-tested and fuzzed on their own (tests/fuzz/request_fuzz.cc).
//
// What is checked here is what can be checked from the body alone: JSON syntax and nesting depth,
// the type of every known field, value ranges, and combinations (suffix, stream_options without
// stream, top_logprobs without logprobs). What needs the model — known model name, prompt length
// against the context, token ids against the vocabulary, the chat template's opinion of the roles —
// is checked by the server afterwards. Unknown fields are ignored, as vLLM does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine/sampler.h"
#include "runtime/server/api_error.h"

namespace mixserve::server {

// Limits on what one request may ask for.
inline constexpr int kMaxChoices = 128;          // n
inline constexpr int kMaxTopLogprobs = 20;       // completions logprobs / chat top_logprobs
inline constexpr size_t kMaxPrompts = 256;       // a batch of completion prompts
inline constexpr size_t kMaxStopStrings = 64;
inline constexpr int kMaxJsonDepth = 64;

// What to generate and how; shared by /v1/completions and /v1/chat/completions.
struct GenerationRequest {
  std::string model;                    // "" when the body named none
  std::optional<int64_t> max_tokens;    // nullopt: the endpoint's default
  int n = 1;
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // vLLM extension
  bool ignore_eos = false;              // vLLM extension
  bool skip_special_tokens = true;      // vLLM extension
  SamplingParams sampling;              // sampling.top_logprobs: alternatives per token
  bool logprobs = false;                // report the sampled tokens' logprobs
  std::string user;
};

// One completion prompt: text, or token ids when the client sent ids.
struct Prompt {
  bool is_tokens = false;
  std::string text;
  std::vector<int32_t> token_ids;
};

struct CompletionRequest {
  GenerationRequest gen;
  std::vector<Prompt> prompts;  // several: a batch, choices are indexed prompt * n + j
  bool echo = false;
};

struct ChatRequest {
  GenerationRequest gen;
  // The messages with every `content` made a string (text parts joined with "\n"), or null.
  nlohmann::json messages;
  bool add_generation_prompt = true;
  nlohmann::json chat_template_kwargs = nlohmann::json::object();
};

ApiResult<CompletionRequest> ParseCompletionRequest(std::string_view body);
ApiResult<ChatRequest> ParseChatRequest(std::string_view body);

// The body as a JSON object, or a 400 for malformed JSON, nesting deeper than kMaxJsonDepth, or a
// top-level value that is not an object.
ApiResult<nlohmann::json> ParseJsonObject(std::string_view body);

}  // namespace mixserve::server
