// What a client asks the engine for, and what the engine streams back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/engine/sampler.h"

namespace mixserve {

enum class FinishReason { kNone, kStop, kLength, kAbort };

// "stop", "length", "abort" (the OpenAI API's finish_reason), "" while running.
const char* FinishReasonName(FinishReason reason);

// One increment of a request's result. The engine calls Request::on_output from its own thread for
// every step that produced something, and once more (finished = true) at the end.
struct RequestOutput {
  std::vector<int32_t> token_ids;      // new tokens of this increment
  std::string text;                    // new text of this increment (stop strings cut off)
  std::vector<SampleResult> logprobs;  // parallel to token_ids when the request asked for logprobs
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;       // so far
  int64_t cached_prompt_tokens = 0;    // prompt tokens served from the prefix cache
  // First increment only, when the request asked for prompt_logprobs: prompt tokens 1..n-1 scored
  // against the prefix before each (token 0 has no logprob).
  std::vector<SampleResult> prompt_logprobs;
};

struct Request {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int64_t max_tokens = 16;
  std::vector<std::string> stop;         // stop strings; matched on the detokenized output
  std::vector<int32_t> stop_token_ids;   // besides EOS
  bool ignore_eos = false;
  bool logprobs = false;                 // report each sampled token's logprob (and top_logprobs)
  bool prompt_logprobs = false;          // also the prompt's (bypasses the prefix cache, whose hits are not computed)
  bool skip_special_tokens = true;
  std::function<void(const RequestOutput&)> on_output;
};

}  // namespace mixserve
